// Fake Ollama and vLLM servers, real HTTP on the wire formats those servers document, for the driver tests (neither
// backend can run on the test machines). The mode is FAKE_BACKEND=ollama|vllm; the argv is the real backend's.
//
// ollama (`serve`; listens on OLLAMA_HOST, default 127.0.0.1:11434; models are those pulled into OLLAMA_MODELS, laid
// out as Ollama lays them out: manifests/REGISTRY/NAMESPACE/MODEL/TAG naming blobs/sha256-HEX):
//   GET  /                     200 "Ollama is running"
//   GET  /api/ps               200 {"models":[{..., size, size_vram, context_length, expires_at}]} loaded models; size
//                              is the weights blob's size, size_vram the same when num_gpu > 0, else 0
//   POST /api/generate         load (empty prompt, done_reason "load") or unload (keep_alive 0, done_reason "unload");
//                              options.num_ctx/num_gpu are kept; a prompt to answer is refused (400)
//   POST /api/pull             copies the model from FAKE_OLLAMA_REGISTRY (laid out like OLLAMA_MODELS) into OLLAMA_MODELS,
//                              streaming NDJSON progress (pulling manifest, pulling <digest> with total/completed,
//                              verifying sha256 digest, writing manifest, success) or {"error":...}
//   POST /v1/chat/completions, /v1/completions, /v1/embeddings: OpenAI format, JSON or SSE chunks
//                              ending in "data: [DONE]" (a usage chunk first when stream_options.include_usage)
//   400 {"error":"model is required"}; 404 {"error":"model \"x\" not found, try pulling it first"} for unknown models
//   (OpenAI-style {"error":{"message":...}} on /v1). keep_alive is seconds or a duration ("5m", "1h"); negative keeps the
//   model forever; requests without it use OLLAMA_KEEP_ALIVE (default 5m); expired models leave /api/ps.
//   Loading a model that is not loaded takes FAKE_LOAD_DELAY_MS (default 0).
// vllm (`serve MODEL --host H --port P --gpu-memory-utilization F --max-model-len N --max-num-seqs S
//        --tensor-parallel-size K --served-model-name NAME [--kv-cache-dtype D] [--task embed|score] [--enforce-eager]
//        [--pipeline-parallel-size P] [--distributed-executor-backend ray|mp|uni|external_launcher]`):
//   exit 2 with argparse's "unrecognized arguments" for other flags (or an invalid executor choice); exit 1 with vLLM's
//   ValueError, before listening, when the utilization is outside (0, 1], when the GPUs it needs exceed those in
//   CUDA_VISIBLE_DEVICES (K × P on one host; K with the ray executor and RAY_ADDRESS set, the cluster holding the other
//   stages, which the fake cannot reach and takes as big enough), or when --max-model-len exceeds
//   max_position_embeddings of MODEL/config.json (FAKE_VLLM_MAX_MODEL_LEN, default 4096, without one). It then "starts
//   its engine" for FAKE_LOAD_DELAY_MS, and until the file FAKE_GO_FILE names exists when that is set, before it listens
//   at all, as vLLM builds its engine before its HTTP server.
//   GET  /health               200
//   GET  /metrics              Prometheus text: vllm:num_requests_running, _waiting, request_success_total, cache_config_info
//   POST /v1/chat/completions, /v1/completions: OpenAI format, JSON or SSE (usage chunk with stream_options.include_usage)
//   POST /v1/embeddings        only with --task embed (then chat and completions are refused): 400
//                              {"object":"error","type":"BadRequestError","message":"The model does not support ... API"}
//   POST /rerank, /v1/rerank
//                              only with --task score: {model, query, documents, top_n, return_documents} ->
//                              {id, model, usage, results: [{index, document: {text}, relevance_score}]}, best first;
//                              the score is the share of the query's words in the document (VllmRerank.cs)
//   404 {"object":"error","type":"NotFoundError",...} for another model name
// generic (FAKE_GENERIC=never-ready|exit|health-status|port-taken, argv `--port P`): a server that fails to come up in
//   one of those ways, for the generic backend's failure paths (FakeGeneric.cs). FAKE_GENERIC=audio: an audio server in
//   OpenAI's shapes, as whisper.cpp's server and TTS servers speak them (FakeAudio.cs):
//   POST /v1/audio/transcriptions, /v1/audio/translations
//                              multipart/form-data: file (required), model, response_format (json|text|verbose_json),
//                              language -> {"text": "... of FILE: N bytes, sha256 HEX, model M"}; 400 OpenAI error
//                              object without a file
//   POST /v1/audio/speech      {model, input, voice, response_format (wav|pcm)} -> 16-bit mono 24 kHz PCM, one second
//                              per word of input, written in flushed half-second pieces
// With FAKE_RECORD_FILE set, each fake appends what it was given (argv, environment, API requests with their bodies) as
// JSON lines, for the tests to assert what ullmd sent.
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
