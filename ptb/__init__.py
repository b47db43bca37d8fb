"""ptb: the PostTrainBench orchestrator (Hydra sweeps → Ray runs → evaluation, judge, scores).

The map, in the order a command uses it:

Commands (the Hydra ones get every job of a sweep at once from hydra_plugins/ptb_launcher)
    run.py            python -m ptb.run       agents post-train models: plan, then the sweep
    baseline/         python -m ptb.baseline  base and instruct baselines (store, meter, reference)
    cache/            python -m ptb.cache     fill a shared HF cache for offline nodes (plan, fetch, verify, report)
    report.py         python -m ptb.report    the leaderboard of a results folder (not Hydra)
    judge.py          python -m ptb.judge     judge finished runs again: judge.vN.json beside judge.json
    redteam/          python -m ptb.redteam   cheating agents (agents/redteam/) guarded and guard off, one sweep:
                                              caught | blocked | MISSED per case, false flags of honest runs
    batch.py          how a command receives every job of a sweep at once

Plan time (nothing is scheduled until all of it passed)
    plan.py           composed config → RunPlan / SweepSettings, every value checked
    options.py        config mappings → frozen option records (unknown key, type, bounds)
    registry.py       one registry for every plug-in kind, one decorator per plug-in
    plugins.py        plug-in code loaded by path: evals/<task>/task.py, agents/<name>/trace.py
    records.py        the frozen data between stages: specs, plans, outcome, verdict, metrics, result
    errors.py         ConfigError (plan time), InfraFailure (retries exhausted)

One run (`pipeline.py` runs the stages, each once, in this order)
    stages/prepare.py     workspace, prompt, harness hashes
    stages/solve/         the AgentRun actor: sandboxed agent, watchdog, monitor
    stages/collect.py     final_model, workspace and /tmp snapshots (agent_tmp/), trace (traces.py: trace parsers)
    stages/served.py      served_model/: final_model's accepted weights + the base tokenizer (served, judged)
    stages/judge/         checks/ (one module per check), llm.py + evidence.py (LLM judges), run.py,
                          remote.py (the Ray tasks), versions.py (judge.json, judge.vN.json),
                          ngrams.py + fingerprints.py (test_overlap's n-grams and reworded-item fingerprints)
    stages/evaluate.py    the final evaluation in the shared pool
    stages/score.py       result.json and the fallback rule

The driver
    sweep.py          every run handed to Ray at once; progress.py (live board); tracking/ (wandb)
    cluster.py        starting or joining Ray, the evaluation pool on it

Shared machinery
    evaluation/       the pool of evaluation actors, inspect-ai runner, retry ladder, agent CLI
                      (agent_cli.py: the agent's evaluate.py; scores, never targets or solutions)
    grading/          the per-run grading service of a secret test split (service.py on a Unix socket,
                      client.py in the sandbox, remote_task.py for evaluate.py, run.py for the solve stage)
    serve/            OpenAI-compatible servers: backends (hf, vllm), tool-call parsers, guard,
                      checkpoint.py (the one rule on which files of a checkpoint are its weights)
    sandbox/          bubblewrap (unprivileged agent, seccomp, own GPUs) / none / auto; code_exec for generated code
    egress/           the per-run egress proxy (proxy, bridge, records), its policy (policy.py: forbidden
                      models on the Hub, other vendors' LLM APIs; sniff.py) and the Hub's TLS (tls.py: per-run CA)
    models/           base models: the Hub, or built by ptb (tiny)
    tasks/            the task SDK: data sources, answers, grader, code sandbox, strip_reasoning,
                      heldout.py (the secret a generated test split is drawn from, its fingerprint)
    data.py, hub.py   where task data and models come from (HF cache, URL files)
    chat_templates.py which harness template and end-of-turn token evaluate a run
    io.py, paths.py   atomic writes and records as JSON; the project's folders
"""

__version__ = "0.1.0"
