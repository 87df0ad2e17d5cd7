# ReactDiff: stage 1 (Multi-Modality Transformer), stage 2 (latent conditional DDIM), generation.
# Training depends on the *training* features manifest and split only: new val/test data never retrains.


rule train_mmt:
    input:
        data=f"{RESULTS}/data/train.npz",
        manifest=f"{RESULTS}/features/train.manifest.json",
    output:
        model=f"{RESULTS}/models/reactdiff/mmt.pt",
        losses=f"{RESULTS}/models/reactdiff/mmt_losses.csv",
    params:
        settings=reactdiff_settings(),
        code=CODE["reactdiff"],
    log:
        f"{RESULTS}/logs/train_mmt.log",
    benchmark:
        f"{RESULTS}/benchmarks/train_mmt.tsv"
    threads: REACTDIFF.get("threads", 2)
    resources:
        gpu=1,
        mem_mb=16000,
        runtime=720,
    shell:
        MAFRG + " train-mmt --train-data {input.data} --features-root {RESULTS}/features "
        "--manifest {input.manifest} --settings {params.settings:q} --out {output.model} "
        "--losses {output.losses} --threads {threads} > {log} 2>&1"


rule train_ddim:
    input:
        data=f"{RESULTS}/data/train.npz",
        manifest=f"{RESULTS}/features/train.manifest.json",
        mmt=f"{RESULTS}/models/reactdiff/mmt.pt",
    output:
        model=f"{RESULTS}/models/reactdiff/ddim.pt",
        losses=f"{RESULTS}/models/reactdiff/ddim_losses.csv",
    params:
        settings=reactdiff_settings(),
        code=CODE["reactdiff"],
    log:
        f"{RESULTS}/logs/train_ddim.log",
    benchmark:
        f"{RESULTS}/benchmarks/train_ddim.tsv"
    threads: REACTDIFF.get("threads", 2)
    resources:
        gpu=1,
        mem_mb=16000,
        runtime=720,
    shell:
        MAFRG + " train-ddim --train-data {input.data} --features-root {RESULTS}/features "
        "--manifest {input.manifest} --mmt {input.mmt} --settings {params.settings:q} --out {output.model} "
        "--losses {output.losses} --threads {threads} > {log} 2>&1"


rule generate_reactdiff:
    input:
        mmt=f"{RESULTS}/models/reactdiff/mmt.pt",
        ddim=f"{RESULTS}/models/reactdiff/ddim.pt",
        data=f"{RESULTS}/data/{{split}}.npz",
        manifest=f"{RESULTS}/features/{{split}}.manifest.json",
    output:
        pred=f"{RESULTS}/predictions/{{split}}/ReactDiff_{{mode}}/{{shard}}.npy",
        tdmm=f"{RESULTS}/predictions/{{split}}/ReactDiff_{{mode}}/{{shard}}_3dmm.npy",
        meta=f"{RESULTS}/predictions/{{split}}/ReactDiff_{{mode}}/{{shard}}.json",
    wildcard_constraints:
        mode="offline|online",
    params:
        settings=reactdiff_settings(),
        rows=rows_arg,
        code=CODE["reactdiff"],
    log:
        f"{RESULTS}/logs/generate_{{split}}_{{mode}}_{{shard}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/generate_{{split}}_{{mode}}_{{shard}}.tsv"
    threads: REACTDIFF.get("threads", 2)
    resources:
        mem_mb=8000,
        runtime=240,
    shell:
        MAFRG + " generate --data {input.data} --features-root {RESULTS}/features --mmt {input.mmt} "
        "--ddim {input.ddim} --mode {wildcards.mode} --settings {params.settings:q} --out {output.pred} "
        "--rows {params.rows} --threads {threads} > {log} 2>&1"
