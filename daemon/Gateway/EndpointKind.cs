using UnifiedLlm.Daemon.Config;

namespace UnifiedLlm.Daemon.Gateway;

/// <summary>The OpenAI-style operations the gateway proxies, with the path below an upstream's /v1/.</summary>
internal enum EndpointKind
{
    ChatCompletions,
    Completions,
    Embeddings,

    /// <summary>Scores documents against a query (llama.cpp with --reranking, vLLM, TGI, Jina and Cohere-style servers).</summary>
    Rerank,

    /// <summary>Speech to text: a multipart/form-data upload (whisper.cpp's server, OpenAI).</summary>
    AudioTranscriptions,

    /// <summary>Speech to English text: a multipart/form-data upload.</summary>
    AudioTranslations,

    /// <summary>Text to speech: JSON in, audio bytes out.</summary>
    AudioSpeech,
}

internal static class EndpointKinds
{
    public static string Path(this EndpointKind kind) => kind switch
    {
        EndpointKind.ChatCompletions => "chat/completions",
        EndpointKind.Completions => "completions",
        EndpointKind.Rerank => "rerank",
        EndpointKind.AudioTranscriptions => "audio/transcriptions",
        EndpointKind.AudioTranslations => "audio/translations",
        EndpointKind.AudioSpeech => "audio/speech",
        _ => "embeddings",
    };

    /// <summary>The config's name for what a backend must serve to answer this kind of request.</summary>
    public static ServedEndpoints Served(this EndpointKind kind) => kind switch
    {
        EndpointKind.ChatCompletions => ServedEndpoints.Chat,
        EndpointKind.Completions => ServedEndpoints.Completions,
        EndpointKind.Rerank => ServedEndpoints.Rerank,
        EndpointKind.AudioTranscriptions => ServedEndpoints.Transcriptions,
        EndpointKind.AudioTranslations => ServedEndpoints.Translations,
        EndpointKind.AudioSpeech => ServedEndpoints.Speech,
        _ => ServedEndpoints.Embeddings,
    };

    /// <summary>
    /// What a backend serves: a generic one what it declares; llama.cpp and vLLM all four (llama.cpp answers embeddings
    /// and rerank when its extra_args enable them, and says so itself otherwise); Ollama has no rerank endpoint. Audio is
    /// served only by generic backends that declare it.
    /// </summary>
    public static ServedEndpoints ServedBy(BackendConfig backend, BackendKind kind) => backend.Generic?.Endpoints ?? kind switch
    {
        BackendKind.Ollama => ServedEndpoints.Chat | ServedEndpoints.Completions | ServedEndpoints.Embeddings,
        _ => ServedEndpoints.Chat | ServedEndpoints.Completions | ServedEndpoints.Embeddings | ServedEndpoints.Rerank,
    };

    /// <summary>The config's word for the endpoint, as in a generic backend's endpoints list.</summary>
    public static string ConfigName(this EndpointKind kind) => kind switch
    {
        EndpointKind.ChatCompletions => "chat",
        EndpointKind.Completions => "completions",
        EndpointKind.Rerank => "rerank",
        EndpointKind.AudioTranscriptions => "transcriptions",
        EndpointKind.AudioTranslations => "translations",
        EndpointKind.AudioSpeech => "speech",
        _ => "embeddings",
    };
}
