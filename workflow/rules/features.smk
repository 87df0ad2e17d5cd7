# Per-frame feature streams: one job (and one Parquet shard) per (clip, person).


rule extract_features:
    input:
        unpack(extract_inputs),
    output:
        # update(): the job reads the previous shard and keeps every stream column whose settings, extractor
        # and source are unchanged (Snakemake backs the file up and restores it if the job fails).
        update(f"{RESULTS}/features/{{split}}/{{rel}}.parquet"),
    params:
        fingerprint=features_fingerprint(),
        dataset=EXTRACT_DATASET_JSON,
        code=CODE["features"],
    log:
        f"{RESULTS}/logs/features/{{split}}/{{rel}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/features/{{split}}/{{rel}}.tsv"
    group:
        "extract"
    threads: FEATURES.threads
    resources:
        mem_mb=6000,
        runtime=30,
    shell:
        MAFRG + " extract --root {ROOT} --split {wildcards.split} --rel {wildcards.rel} "
        "--features {FEATURES_JSON:q} --dataset {params.dataset:q} --out {output} > {log} 2>&1"


rule features_manifest:
    input:
        shard_paths,
    output:
        f"{RESULTS}/features/{{split}}.manifest.json",
    params:
        code=CODE["features"],
    log:
        f"{RESULTS}/logs/features_manifest_{{split}}.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    shell:
        MAFRG + " features-manifest --split {wildcards.split} --shards {input} --out {output} > {log} 2>&1"
