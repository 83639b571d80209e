namespace UnifiedLlm.Daemon.Gateway;

/// <summary>The OpenAI operations the gateway proxies, with the path below an upstream's /v1/.</summary>
internal enum EndpointKind
{
    ChatCompletions,
    Completions,
    Embeddings,
}

internal static class EndpointKinds
{
    public static string Path(this EndpointKind kind) => kind switch
    {
        EndpointKind.ChatCompletions => "chat/completions",
        EndpointKind.Completions => "completions",
        _ => "embeddings",
    };
}
