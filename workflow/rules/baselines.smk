# The naive baselines of the challenge and GT, alpha predictions per mirrored row.


rule baseline:
    input:
        unpack(baseline_inputs),
    output:
        pred=f"{RESULTS}/predictions/{{split}}/{{method}}.npy",
        meta=f"{RESULTS}/predictions/{{split}}/{{method}}.json",
    params:
        settings=baseline_settings,
        train=lambda wc, input: f"--train {input.train}" if "train" in input.keys() else "",
        code=CODE["baselines"],
    wildcard_constraints:
        method="|".join(BASELINE_METHODS),
    log:
        f"{RESULTS}/logs/baseline_{{split}}_{{method}}.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    shell:
        MAFRG + " baseline --method {wildcards.method} --data {input.data} {params.train} "
        "--settings {params.settings:q} --out {output.pred} > {log} 2>&1"
