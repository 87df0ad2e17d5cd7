# REACT 2024 metrics: one job per (split, run, row shard) writes per-row contributions (Parquet); one aggregation
# per (split, run) turns them into the split-level numbers. A new method or one changed prediction shard reruns
# only the jobs that read it (and that run's aggregation).


rule evaluate_shard:
    input:
        pred=P.prediction("{split}", "{label}", "{seed}", "{shard}"),
        data=P.split_data("{split}"),
        neighbours=P.neighbours("{split}"),
    output:
        rows=P.metric_shard("{split}", "{label}", "{seed}", "{shard}"),
        dvs=P.metric_shard("{split}", "{label}", "{seed}", "{shard}").replace(".parquet", ".dvs.npz"),
    params:
        protocol=EVAL.protocol,
        alignment=EVAL.gt_alignment,
        fps=DATASET.fps,
        chunk=EVAL.chunk_rows,
        rows=rows_arg,
        code=CODE["evaluate-shard"],
    log:
        P.log("evaluate/{split}_{label}_seed{seed}_{shard}"),
    benchmark:
        P.benchmark("evaluate_shard/{split}_{label}_seed{seed}_{shard}")
    conda:
        ENV
    threads: EVAL.threads
    resources:
        mem_mb=4000,
        runtime=60,
    shell:
        "python -m mafrg evaluate-shard --pred {input.pred:q} --rows {params.rows:q} --data {input.data:q} "
        "--neighbours {input.neighbours:q} --protocol {params.protocol:q} --threads {threads} "
        "--chunk-rows {params.chunk:q} --gt-alignment {params.alignment:q} --fps {params.fps:q} --method {wildcards.label:q} --split {wildcards.split:q} "
        "--out {output.rows:q} > {log:q} 2>&1"


rule aggregate_metrics:
    input:
        shards=metric_shards,
        dvs=lambda wc: [p.replace(".parquet", ".dvs.npz") for p in metric_shards(wc)],
        data=P.split_data("{split}"),
    output:
        P.metrics("{split}", "{label}", "{seed}"),
    params:
        protocol=EVAL.protocol,
        code=CODE["aggregate"],
    log:
        P.log("aggregate/{split}_{label}_seed{seed}"),
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        "python -m mafrg aggregate --shards {input.shards:q} --data {input.data:q} --protocol {params.protocol:q} "
        "--method {wildcards.label:q} --split {wildcards.split:q} --seed {wildcards.seed:q} --out {output:q} > {log:q} 2>&1"


rule evaluate_split:
    input:
        pred=prediction_shards,
        tdmm=lambda wc: [p.replace(".npy", "_3dmm.npy") for p in prediction_shards(wc)],
        data=P.split_data("{split}"),
        train=P.split_data("train"),
        weights=frrea_inputs,
    output:
        P.split_metrics("{split}", "{label}", "{seed}"),
    params:
        dataset=DATASET_VALUES,
        settings=realism_settings(),
        code=CODE["evaluate-split"],
    log:
        P.log("evaluate_split/{split}_{label}_seed{seed}"),
    benchmark:
        P.benchmark("evaluate_split/{split}_{label}_seed{seed}")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    shell:
        "python -m mafrg evaluate-split --pred {input.pred:q} --data {input.data:q} --train {input.train:q} --dataset {params.dataset:q} "
        "--settings {params.settings:q} --method {wildcards.label:q} "
        "--split {wildcards.split:q} --seed {wildcards.seed:q} --out {output:q} > {log:q} 2>&1"
