# The naive baselines of the challenge and GT, alpha predictions per mirrored row, one file per row shard.


rule baseline:
    input:
        unpack(baseline_inputs),
    output:
        pred=f"{RESULTS}/predictions/{{split}}/{{method}}/{{shard}}.npy",
        tdmm=f"{RESULTS}/predictions/{{split}}/{{method}}/{{shard}}_3dmm.npy",
        meta=f"{RESULTS}/predictions/{{split}}/{{method}}/{{shard}}.json",
    params:
        settings=baseline_settings,
        rows=rows_arg,
        code=CODE["baselines"],
    wildcard_constraints:
        method="|".join(BASELINE_METHODS),
    log:
        f"{RESULTS}/logs/baseline_{{split}}_{{method}}_{{shard}}.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    shell:
        MAFRG + " baseline --method {wildcards.method} --data {input.data} --train {input.train} "
        "--settings {params.settings:q} --rows {params.rows} --out {output.pred} > {log} 2>&1"
