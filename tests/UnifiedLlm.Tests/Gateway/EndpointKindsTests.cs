using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Gateway;

namespace UnifiedLlm.Tests.Gateway;

/// <summary>Which endpoints each backend serves: a generic one what it declares, Ollama no rerank, no built-in one audio.</summary>
public sealed class EndpointKindsTests
{
    private static readonly BackendConfig BuiltIn = new(true, "x", [], new Dictionary<string, string>());

    [Fact]
    public void Ollama_has_no_rerank_llama_cpp_and_vllm_serve_every_text_endpoint_and_a_generic_backend_what_it_declares()
    {
        var all = Enum.GetValues<EndpointKind>().Aggregate(ServedEndpoints.None, (served, kind) => served | kind.Served());
        var audio = ServedEndpoints.Transcriptions | ServedEndpoints.Translations | ServedEndpoints.Speech;
        var generic = BuiltIn with { Generic = new GenericCommand(["/srv"], "/health", 200, TimeSpan.FromSeconds(1), "/v1", ServedEndpoints.Rerank | ServedEndpoints.Speech) };

        Assert.Equal(all & ~ServedEndpoints.Rerank & ~audio, EndpointKinds.ServedBy(BuiltIn, BackendKind.Ollama));
        Assert.Equal(all & ~audio, EndpointKinds.ServedBy(BuiltIn, BackendKind.LlamaCpp));
        Assert.Equal(all & ~audio, EndpointKinds.ServedBy(BuiltIn, BackendKind.Vllm));
        Assert.Equal(ServedEndpoints.Rerank | ServedEndpoints.Speech, EndpointKinds.ServedBy(generic, BackendKind.Generic));
        Assert.Equal(
            ["chat", "completions", "embeddings", "rerank", "transcriptions", "translations", "speech"],
            Enum.GetValues<EndpointKind>().Select(k => k.ConfigName()));
        Assert.Equal(
            ["chat/completions", "completions", "embeddings", "rerank", "audio/transcriptions", "audio/translations", "audio/speech"],
            Enum.GetValues<EndpointKind>().Select(k => k.Path()));
    }
}
