# Dataset: generate the demo (optional), validate every referenced file, assemble splits, neighbours.

if config["dataset"]["generate"]:

    checkpoint synth_dataset:
        output:
            manifest=f"{ROOT}/manifest.json",
            splits=[f"{ROOT}/{s}.csv" for s in ("train", "val", "test")],
        params:
            settings=as_json(config["synth"]),
            code=CODE["synth"],
        log:
            f"{RESULTS}/logs/synth_dataset.log",
        benchmark:
            f"{RESULTS}/benchmarks/synth_dataset.tsv"
        threads: 1
        resources:
            mem_mb=2000,
            runtime=30,
        shell:
            MAFRG + " synth --out {ROOT} --settings {params.settings:q} > {log} 2>&1"


rule validate_split:
    input:
        dataset_inputs,
    output:
        f"{RESULTS}/validation/{{split}}.json",
    params:
        dataset=dataset_json(),
        code=CODE["data"],
    log:
        f"{RESULTS}/logs/validate_{{split}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/validate_{{split}}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    shell:
        MAFRG + " validate --root {ROOT} --splits {wildcards.split} --dataset {params.dataset:q} "
        "--out {output} > {log} 2>&1"


rule assemble_split:
    input:
        validated=f"{RESULTS}/validation/{{split}}.json",
        csv=lambda wc: split_csv(wc.split),
    output:
        f"{RESULTS}/data/{{split}}.npz",
    params:
        dataset=dataset_json(),
        mirrored=lambda wc: "--mirrored" if wc.split != "train" else "--no-mirrored",
        code=CODE["data"],
    log:
        f"{RESULTS}/logs/assemble_{{split}}.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    shell:
        MAFRG + " assemble --root {ROOT} --split {wildcards.split} --dataset {params.dataset:q} "
        "{params.mirrored} --out {output} > {log} 2>&1"


rule neighbours:
    input:
        f"{RESULTS}/data/{{split}}.npz",
    output:
        matrix=f"{RESULTS}/neighbours/{{split}}.npy",
        meta=f"{RESULTS}/neighbours/{{split}}.json",
    params:
        settings=as_json(config["neighbours"]),
        code=CODE["neighbours"],
    log:
        f"{RESULTS}/logs/neighbours_{{split}}.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        MAFRG + " neighbours --root {ROOT} --split {wildcards.split} --data {input} "
        "--settings {params.settings:q} --out {output.matrix} > {log} 2>&1"
