/**
 * The lmms-eval benchmarks of the Instella-VL-1B results table, reproduced from EvolvingLMMs-Lab/lmms-eval at
 * commit 8b68660431a50024f6775ae468c70d074e224c9d (the commit Instella pins).
 *
 * <ul>
 *   <li>{@link io.instella.eval.tasks} — the 14 tasks: prompt ({@code doc_to_text}), target, generation kwargs,
 *       filter, {@code process_results} and aggregations ({@link io.instella.eval.tasks.Tasks#byName}).</li>
 *   <li>{@link io.instella.eval.metrics} — the metrics as small pure functions (EvalAI VQA, ANLS, relaxed
 *       accuracy, MMBench CircularEval, MMMU parsing, option filters, exact match).</li>
 *   <li>{@link io.instella.eval.py} — the Python semantics they depend on (str methods, float(), round,
 *       re classes, CPython's Mersenne Twister, json.dumps/repr).</li>
 *   <li>{@link io.instella.eval.score.Scorer} — lmms-eval's post-processing of one task's responses.</li>
 *   <li>{@link io.instella.eval.data} — the tasks' Hugging Face parquet datasets, read with DuckDB.</li>
 *   <li>{@link io.instella.eval.run} — the resumable runner over an {@link io.instella.eval.run.EvalModel}.</li>
 *   <li>{@link io.instella.eval.cli.EvalCommand} — {@code instella eval} and {@code instella eval score};
 *       register it with a model backend: {@code new EvalCommand(model -> ...)}.</li>
 * </ul>
 */
package io.instella.eval;
