// Fake Ollama and vLLM servers, real HTTP on the wire formats those servers document, for the driver tests (neither
// backend can run on the test machines). The mode is FAKE_BACKEND=ollama|vllm; the argv is the real backend's.
//
// ollama (`serve`; listens on OLLAMA_HOST, default 127.0.0.1:11434):
//   GET  /                     200 "Ollama is running"
//   GET  /api/tags             200 {"models":[...]} every known model (FAKE_OLLAMA_MODELS, comma-separated tags)
//   GET  /api/ps               200 {"models":[{name, model, size, size_vram, context_length, expires_at, ...}]} loaded models
//   POST /api/generate         load (empty prompt, done_reason "load"), unload (keep_alive 0, done_reason "unload"), or
//                              generate (NDJSON when stream is true, the default); options.num_ctx/num_gpu are kept
//   POST /api/chat             the same for messages (empty messages load or unload)
//   POST /v1/chat/completions  OpenAI format, non-streaming JSON or SSE chunks ending in "data: [DONE]"
//   400 {"error":"model is required"}; 404 {"error":"model \"x\" not found, try pulling it first"} for unknown models
//   (OpenAI-style {"error":{"message":...}} on /v1). keep_alive is seconds or a duration ("5m", "1h"); negative keeps the
//   model forever; requests without it use OLLAMA_KEEP_ALIVE (default 5m); expired models leave /api/ps.
//   Loading a model that is not loaded takes FAKE_LOAD_DELAY_MS (default 0).
// vllm (`serve MODEL --host H --port P --gpu-memory-utilization F --max-model-len N --served-model-name NAME
//        [--tensor-parallel-size K]`):
//   exit 2 with argparse's "unrecognized arguments" for other flags; exit 1 with vLLM's ValueError when
//   --max-model-len exceeds FAKE_VLLM_MAX_MODEL_LEN (default 4096), before listening, as vLLM validates its config first
//   GET  /health               503 while loading (FAKE_LOAD_DELAY_MS), then 200
//   GET  /v1/models            200 {"object":"list","data":[{"id":NAME,"root":MODEL,"max_model_len":N,...}]}
//   POST /v1/chat/completions  OpenAI format, non-streaming or SSE; 404 {"object":"error","type":"NotFoundError",...}
//                              for another model name; 503 while loading
// generic (FAKE_GENERIC=never-ready|exit|health-status|port-taken, argv `--port P`): a server that fails to come up in
//   one of those ways, for the generic backend's failure paths (FakeGeneric.cs).
// With FAKE_RECORD_FILE set, each fake appends what it was given (argv, environment, native Ollama requests) as JSON
// lines, for the tests to assert what ullmd sent.
using UnifiedLlm.Tools.FakeBackends;

var mode = Environment.GetEnvironmentVariable("FAKE_BACKEND");
FakeRecord.Started(mode ?? "", args);
return mode switch
{
    "ollama" => await FakeOllama.RunAsync(args),
    "vllm" => await FakeVllm.RunAsync(args),
    "generic" => await FakeGeneric.RunAsync(args),
    _ => Fail($"FAKE_BACKEND must be \"ollama\", \"vllm\" or \"generic\", not \"{mode}\""),
};

static int Fail(string message)
{
    Console.Error.WriteLine(message);
    return 2;
}
