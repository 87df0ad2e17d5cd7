# REACT 2024 metrics of each method's predictions on each evaluation split.


rule evaluate:
    input:
        pred=f"{RESULTS}/predictions/{{split}}/{{method}}.npy",
        data=f"{RESULTS}/data/{{split}}.npz",
        neighbours=f"{RESULTS}/neighbours/{{split}}.npy",
    output:
        f"{RESULTS}/metrics/{{split}}/{{method}}.json",
    params:
        protocol=EVAL.protocol,
        chunk=EVAL.chunk_rows,
        code=CODE["metrics"],
    log:
        f"{RESULTS}/logs/evaluate_{{split}}_{{method}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/evaluate_{{split}}_{{method}}.tsv"
    threads: EVAL.threads
    resources:
        mem_mb=4000,
        runtime=120,
    shell:
        MAFRG + " evaluate --pred {input.pred} --data {input.data} --neighbours {input.neighbours} "
        "--protocol {params.protocol} --threads {threads} --chunk-rows {params.chunk} "
        "--method {wildcards.method} --split {wildcards.split} --out {output} > {log} 2>&1"
