# Per-frame feature streams: one job (and one Parquet shard) per (clip, person), for the splits some enabled
# method reads features of.


rule extract_features:
    input:
        unpack(extract_inputs),
    output:
        # update(): the job reads the previous shard and keeps every stream column whose settings, extractor
        # and source are unchanged (Snakemake backs the file up and restores it if the job fails).
        update(P.feature_shard("{split}", "{rel}")),
    params:
        root=ROOT,
        fingerprint=features_fingerprint(),
        dataset=EXTRACT_DATASET_JSON,
        code=CODE["features"],
    log:
        P.log("features/{split}/{rel}"),
    benchmark:
        P.benchmark("features/{split}/{rel}")
    conda:
        ENV
    threads: FEATURES.threads
    # Features first: every trained method waits for them, and training is the longest path of a run (the demo
    # on 2 cores: 15 min 32 s with the first training beside the extraction, measured; README "Demo budget").
    priority: 20
    resources:
        gpu=int(FEATURES.device == "cuda"),
        mem_mb=6000,
        runtime=30,
    shell:
        "python -m mafrg extract --root {params.root:q} --split {wildcards.split:q} --rel {wildcards.rel:q} "
        "--features {FEATURES_JSON:q} --dataset {params.dataset:q} --out {output:q} > {log:q} 2>&1"


rule features_manifest:
    input:
        shard_paths,
    output:
        P.features_manifest("{split}"),
    params:
        code=CODE["features"],
    log:
        P.log("features_manifest_{split}"),
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    shell:
        "python -m mafrg features-manifest --split {wildcards.split:q} --shards {input:q} --out {output:q} > {log:q} 2>&1"
