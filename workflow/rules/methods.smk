# Every registered method through two generic rules: one training rule over (method, seed, stage), one generation
# rule over (split, run label, seed, row shard). What each reads, its settings and its resources come from the
# method registry (mafrg.methods): adding a method needs no rule.


rule train:
    input:
        stage_inputs,
    output:
        model=P.model("{method}", "{seed}", "{stage}"),
        sidecar=P.model_sidecar("{method}", "{seed}", "{stage}"),
        losses=P.losses("{method}", "{seed}", "{stage}"),
    params:
        root=ROOT,
        results=lambda wc, output: results_dir(output.model, 3),  # results/models/<method>/seed<n>/<stage>.pt
        block=lambda wc: WF.stage_block_json(wc.method, wc.stage),  # the stage's settings only: what reruns it
        dataset=DATASET_VALUES,
        code=lambda wc: METHOD_CODE[wc.method],
    log:
        P.log("train/{method}_seed{seed}_{stage}"),
    benchmark:
        P.benchmark("train/{method}_seed{seed}_{stage}")
    conda:
        ENV
    threads: lambda wc: WF.run(wc.method).threads
    # Training stages lie on the longest path of a run (features -> train -> generate -> evaluate): start them as
    # soon as their inputs exist, ahead of jobs that are ready at the same time.
    priority: 10
    resources:
        gpu=lambda wc: int(WF.run(wc.method).method.stage(wc.stage).gpu),
        mem_mb=lambda wc: WF.run(wc.method).method.stage(wc.stage).mem_mb,
        runtime=lambda wc: WF.run(wc.method).method.stage(wc.stage).runtime,
    shell:
        "python -m mafrg train --method {wildcards.method:q} --stage {wildcards.stage:q} --seed {wildcards.seed:q} "
        "--results {params.results:q} --root {params.root:q} --dataset {params.dataset:q} --block {params.block:q} "
        "--threads {threads} > {log:q} 2>&1"


rule generate:
    input:
        generation_inputs,
    output:
        pred=P.prediction("{split}", "{label}", "{seed}", "{shard}"),
        tdmm=P.prediction("{split}", "{label}", "{seed}", "{shard}").replace(".npy", "_3dmm.npy"),
        meta=P.prediction("{split}", "{label}", "{seed}", "{shard}").replace(".npy", ".json"),
    params:
        root=ROOT,
        results=lambda wc, output: results_dir(output.pred, 4),  # results/predictions/<split>/<label>/seed<n>/<shard>
        dataset=DATASET_VALUES,
        method=method_of,
        variant=variant_of,
        block=lambda wc: WF.block_json(method_of(wc)),
        rows=rows_arg,
        n=WF.generation.n_predictions,
        device=WF.generation.device,
        precision=WF.generation.precision,
        fingerprint=lambda wc: WF.generation_fingerprint(wc.label),
        code=lambda wc: METHOD_CODE[method_of(wc)],
    log:
        P.log("generate/{split}_{label}_seed{seed}_{shard}"),
    benchmark:
        P.benchmark("generate/{split}_{label}_seed{seed}_{shard}")
    conda:
        ENV
    threads: lambda wc: WF.by_label(wc.label)[0].threads
    resources:
        # a GPU only where it is used: generation.device cuda, for a method with trained networks
        gpu=lambda wc: int(WF.generation.device == "cuda" and bool(WF.by_label(wc.label)[0].method.stages)),
        mem_mb=lambda wc: WF.by_label(wc.label)[0].method.generate_mem_mb,
        runtime=lambda wc: WF.by_label(wc.label)[0].method.generate_runtime,
    shell:
        "python -m mafrg generate --method {params.method:q} --variant {params.variant:q} --seed {wildcards.seed:q} "
        "--split {wildcards.split:q} --rows {params.rows:q} --n-predictions {params.n:q} --dataset {params.dataset:q} "
        "--device {params.device:q} --precision {params.precision:q} "
        "--results {params.results:q} --root {params.root:q} --block {params.block:q} --threads {threads} --out {output.pred:q} "
        "> {log:q} 2>&1"
