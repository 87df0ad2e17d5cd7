# REACT 2024 metrics: one job per (split, method, row shard) writes per-row contributions (Parquet); one
# aggregation per (split, method) turns them into the split-level numbers. A new method or one changed
# prediction shard reruns only the jobs that read it (and that method's aggregation).


rule evaluate_shard:
    input:
        pred=f"{RESULTS}/predictions/{{split}}/{{method}}/{{shard}}.npy",
        data=f"{RESULTS}/data/{{split}}.npz",
        neighbours=f"{RESULTS}/neighbours/{{split}}.npy",
    output:
        rows=f"{RESULTS}/metrics/{{split}}/{{method}}/{{shard}}.parquet",
        dvs=f"{RESULTS}/metrics/{{split}}/{{method}}/{{shard}}.dvs.npz",
    params:
        protocol=EVAL.protocol,
        chunk=EVAL.chunk_rows,
        rows=rows_arg,
        code=CODE["metrics"],
    log:
        f"{RESULTS}/logs/evaluate_{{split}}_{{method}}_{{shard}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/evaluate_{{split}}_{{method}}_{{shard}}.tsv"
    threads: EVAL.threads
    resources:
        mem_mb=4000,
        runtime=60,
    shell:
        MAFRG + " evaluate-shard --pred {input.pred} --rows {params.rows} --data {input.data} "
        "--neighbours {input.neighbours} --protocol {params.protocol} --threads {threads} "
        "--chunk-rows {params.chunk} --method {wildcards.method} --split {wildcards.split} "
        "--out {output.rows} > {log} 2>&1"


rule aggregate_metrics:
    input:
        shards=metric_shards,
        dvs=lambda wc: [p.replace(".parquet", ".dvs.npz") for p in metric_shards(wc)],
        data=f"{RESULTS}/data/{{split}}.npz",
    output:
        f"{RESULTS}/metrics/{{split}}/{{method}}.json",
    params:
        protocol=EVAL.protocol,
        code=CODE["metrics"],
    log:
        f"{RESULTS}/logs/aggregate_{{split}}_{{method}}.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        MAFRG + " aggregate --shards {input.shards} --data {input.data} --protocol {params.protocol} "
        "--method {wildcards.method} --split {wildcards.split} --out {output} > {log} 2>&1"


rule evaluate_3dmm:
    input:
        pred=prediction_shards,
        tdmm=lambda wc: [p.replace(".npy", "_3dmm.npy") for p in prediction_shards(wc)],
        data=f"{RESULTS}/data/{{split}}.npz",
        train=f"{RESULTS}/data/train.npz",
        weights=frrea_inputs,
    output:
        f"{RESULTS}/metrics/{{split}}/{{method}}.realism.json",
    params:
        settings=realism_settings(),
        code=CODE["metrics"],
    log:
        f"{RESULTS}/logs/evaluate_3dmm_{{split}}_{{method}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/evaluate_3dmm_{{split}}_{{method}}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    shell:
        MAFRG + " evaluate-3dmm --pred {input.pred} --data {input.data} --train {input.train} --root {ROOT} "
        "--fps {DATASET.fps} --settings {params.settings:q} --method {wildcards.method} "
        "--split {wildcards.split} --out {output} > {log} 2>&1"
