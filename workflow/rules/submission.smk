# Challenge packages: `snakemake submission` packs each configured method's reactions of submission.split in the
# REACT layout (mafrg.submission), with rendered videos and a manifest. Not part of the default target (the
# target rule `submission` is in the Snakefile, beside `all`).


rule submit:
    input:
        data=P.split_data(SUB.split),
        validation=P.validation(SUB.split),
        appropriate=P.neighbours(SUB.split).replace(".npy", ".json"),
        preds=lambda wc: WF.submission_inputs(wc.method, eval_shards(SUB.split)),
    output:
        manifest=P.submission_manifest("{method}"),
        archive=[P.submission_archive("{method}", SUB.archive)] if SUB.archive != "none" else [],
    params:
        results=lambda wc, output: results_dir(output.manifest, 2),  # results/submission/<method>/manifest.json
        root=ROOT,
        out=lambda wc, output: str(Path(output.manifest).parent),
        split=SUB.split,
        seed=lambda wc: WF.run(wc.method).seeds[0],
        dataset=DATASET_VALUES,
        fmt=SUB.format,
        threshold=SUB.threshold,
        binarize=[] if SUB.binarize else ["--no-binarize"],
        videos=(["--no-videos"] if SUB.videos == [] else ["--videos", *SUB.videos] if SUB.videos else []),
        reactions=SUB.video_reactions,
        archive=SUB.archive,
        shards=lambda wc: eval_shards(SUB.split),
        code=CODE["submit"],
    log:
        P.log("submission/{method}"),
    benchmark:
        P.benchmark("submit/{method}")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    shell:
        "python -m mafrg submit --method {wildcards.method:q} --split {params.split:q} --seed {params.seed:q} "
        "--results {params.results:q} --root {params.root:q} --out {params.out:q} --format {params.fmt:q} "
        "--threshold {params.threshold:q} {params.binarize:q} {params.videos:q} --video-reactions {params.reactions:q} "
        "--dataset {params.dataset:q} --appropriate {input.appropriate:q} --archive {params.archive:q} --shards {params.shards:q} > {log:q} 2>&1"
