# Report tables per split with a provenance block.


rule report:
    input:
        metrics=expand(f"{RESULTS}/metrics/{{split}}/{{method}}.json", split=EVAL_SPLITS, method=METHODS),
        neighbours=expand(f"{RESULTS}/neighbours/{{split}}.json", split=EVAL_SPLITS),
        features=expand(f"{RESULTS}/features/{{split}}.manifest.json", split=ALL_SPLITS),
        losses=loss_tables(),
    output:
        report_outputs(),
    params:
        cfg=as_json(config),
        code=CODE["report"],
    log:
        f"{RESULTS}/logs/report.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    shell:
        MAFRG + " report --metrics {input.metrics} --out-dir {RESULTS}/report --config-json {params.cfg:q} "
        "--root {ROOT} --neighbours-meta {input.neighbours} --features-manifests {input.features} --losses {input.losses} > {log} 2>&1"
