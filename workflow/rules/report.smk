# Report: tables per split (CSV, Markdown), a self-contained HTML page with charts, traces and rendered
# reactions, and a provenance block. Rows, seeds and loss curves follow from the enabled methods.


rule report:
    input:
        metrics=report_runs("metrics"),
        neighbours=[P.neighbours(s).replace(".npy", ".json") for s in EVAL_SPLITS],
        features=[P.features_manifest(s) for s in WF.feature_splits()],
        losses=WF.loss_tables(),
        split_metrics=report_runs("split"),
        showcase=showcase_inputs,
    output:
        report_outputs(),
    params:
        root=ROOT,
        out_dir=lambda wc, output: str(Path(output[0]).parent),
        cfg=WF.config_json(),
        config_files=CONFIG_FILES,
        showcase=lambda wc, input: ["--showcase-data", input.showcase[0], "--showcase-pred", input.showcase[1]],
        code=CODE["report"],
    log:
        P.log("report"),
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    shell:
        "python -m mafrg report --metrics {input.metrics:q} --out-dir {params.out_dir:q} --config-json {params.cfg:q} "
        "--config {params.config_files:q} "
        "--root {params.root:q} --neighbours-meta {input.neighbours:q} --features-manifests {input.features:q} "
        "--losses {input.losses:q} --split-metrics {input.split_metrics:q} {params.showcase:q} > {log:q} 2>&1"
