# Report: tables per split (CSV, Markdown), a self-contained HTML page with charts, traces and rendered
# reactions, and a provenance block.


rule report:
    input:
        metrics=expand(f"{RESULTS}/metrics/{{split}}/{{method}}.json", split=EVAL_SPLITS, method=METHODS),
        neighbours=expand(f"{RESULTS}/neighbours/{{split}}.json", split=EVAL_SPLITS),
        features=expand(f"{RESULTS}/features/{{split}}.manifest.json", split=ALL_SPLITS),
        losses=loss_tables(),
        realism=expand(f"{RESULTS}/metrics/{{split}}/{{method}}.realism.json", split=EVAL_SPLITS, method=METHODS),
        showcase=showcase_inputs,
    output:
        report_outputs(),
    params:
        cfg=as_json(config),
        showcase=lambda wc, input: (f"--showcase-data {input.showcase[0]} --showcase-pred {input.showcase[1]}"
                                    if input.showcase else ""),
        code=CODE["report"],
    log:
        f"{RESULTS}/logs/report.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    shell:
        MAFRG + " report --metrics {input.metrics} --out-dir {RESULTS}/report --config-json {params.cfg:q} "
        "--root {ROOT} --neighbours-meta {input.neighbours} --features-manifests {input.features} --losses {input.losses} "
        "--realism {input.realism} {params.showcase} > {log} 2>&1"
