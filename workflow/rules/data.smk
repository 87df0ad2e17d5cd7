# Dataset: generate the demo (optional), validate every referenced file, assemble splits, neighbours.

if DATASET.generate:

    checkpoint synth_dataset:
        output:
            manifest=f"{ROOT}/manifest.json",
            splits=[P.split_csv(s) for s in ("train", "val", "test")] if WF.synth.layout == "react2024" else [],
        params:
            root=lambda wc, output: str(Path(output.manifest).parent),
            settings=as_json(asdict(WF.synth)),
            code=CODE["synth"],
        log:
            P.log("synth_dataset"),
        benchmark:
            P.benchmark("synth_dataset/synth_dataset")
        conda:
            ENV
        threads: 2  # sessions are written side by side (capped at --cores; a cluster job asks for 2 CPUs); the output does not depend on it
        resources:
            mem_mb=2000,
            runtime=30,
        shell:
            "python -m mafrg synth --out {params.root:q} --settings {params.settings:q} --threads {threads} "
            "> {log:q} 2>&1"


checkpoint validate_split:
    input:
        dataset_inputs,
    output:
        P.validation("{split}"),
    params:
        root=ROOT,
        dataset=dataset_json(),
        code=CODE["validate"],
    log:
        P.log("validate_{split}"),
    benchmark:
        P.benchmark("validate_split/{split}")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    shell:
        # on failure the list of problems goes to the console too, not only to the log
        "python -m mafrg validate --root {params.root:q} --splits {wildcards.split:q} --dataset {params.dataset:q} "
        "--out {output:q} > {log:q} 2>&1 || {{ grep -v '^ *$' {log:q} | grep -E 'error|  - ' >&2; exit 1; }}"


rule assemble_split:
    input:
        validated=P.validation("{split}"),
        index=dataset_inputs,
    output:
        P.split_data("{split}"),
    params:
        root=ROOT,
        dataset=dataset_json(),
        mirrored=lambda wc: "--mirrored" if LAYOUT.mirrored(wc.split) else "--no-mirrored",
        # an official neighbour matrix that does not fit the split fails here, before features and training
        neighbours=lambda wc: WF.neighbours.source if wc.split != "train" else "build",
        code=CODE["assemble"],
    log:
        P.log("assemble_{split}"),
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    shell:
        "python -m mafrg assemble --root {params.root:q} --split {wildcards.split:q} --dataset {params.dataset:q} "
        "{params.mirrored:q} --neighbours-source {params.neighbours:q} --out {output:q} > {log:q} 2>&1"


rule neighbours:
    input:
        P.split_data("{split}"),
    output:
        matrix=P.neighbours("{split}"),
        meta=P.neighbours("{split}").replace(".npy", ".json"),
    params:
        root=ROOT,
        settings=as_json(asdict(WF.neighbours)),
        dataset=DATASET_VALUES,
        code=CODE["neighbours"],
    log:
        P.log("neighbours_{split}"),
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        "python -m mafrg neighbours --root {params.root:q} --split {wildcards.split:q} --data {input:q} "
        "--dataset {params.dataset:q} "
        "--settings {params.settings:q} --out {output.matrix:q} > {log:q} 2>&1"
