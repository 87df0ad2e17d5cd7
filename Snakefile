# mafrg: Multiple Appropriate Facial Reaction Generation, end to end.
# Rules live in workflow/rules (one file per stage); helpers in workflow/rules/common.smk.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/features.smk"
include: "workflow/rules/methods.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/submission.smk"


# Jobs of seconds that read a few small files: on a cluster they run in the Snakemake process itself, not as
# SLURM jobs (each would wait in the queue for longer than it runs).
localrules:
    all,
    submission,
    validate_split,
    features_manifest,
    aggregate_metrics,
    report,


rule all:
    input:
        report_outputs(),
    default_target: True


# `snakemake submission`: challenge packages (results/submission/<method>/), not built by default.
rule submission:
    input:
        submission_targets,
