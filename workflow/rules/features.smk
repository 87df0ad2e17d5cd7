# Per-frame feature streams, for the splits some enabled method reads features of: one Parquet feature file per
# (clip, person), one job per session (its networks loaded once; docs/features.md).


rule extract_features:
    input:
        unpack(extract_inputs),
    output:
        # The job's record. The feature files (P.feature_file) are written beside it, each atomically, and are not
        # declared outputs, so Snakemake never deletes them: a failed or killed job keeps every finished feature file, and
        # a rerun keeps each stream column whose settings, extractor and source are unchanged.
        P.features_session("{split}", "{session}"),
    params:
        root=ROOT,
        results=lambda wc, output: results_dir(output[0], 2 + wc.session.count("/")),  # results/features/<split>/<session>.json
        fingerprint=features_fingerprint(),
        dataset=EXTRACT_DATASET_JSON,
        code=CODE["extract"],
    log:
        P.log("features/{split}/{session}"),
    benchmark:
        P.benchmark("extract_features/{split}/{session}")
    conda:
        ENV
    threads: FEATURES.threads
    # Features first: every trained method waits for them, and training is the longest path of a run.
    priority: 20
    resources:
        gpu=int(FEATURES.device == "cuda"),
        mem_mb=6000,
        runtime=30,
    shell:
        "python -m mafrg extract --root {params.root:q} --split {wildcards.split:q} --session {wildcards.session:q} "
        "--results {params.results:q} --features {FEATURES_JSON:q} --dataset {params.dataset:q} "
        "--out {output:q} > {log:q} 2>&1"


rule features_manifest:
    input:
        session_records,
    output:
        P.features_manifest("{split}"),
    params:
        code=CODE["features-manifest"],
    log:
        P.log("features_manifest_{split}"),
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    shell:
        "python -m mafrg features-manifest --split {wildcards.split:q} --records {input:q} --out {output:q} > {log:q} 2>&1"
