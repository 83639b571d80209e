using UnifiedLlm.Daemon.Models;
using UnifiedLlm.Daemon.Models.Ollama;

namespace UnifiedLlm.Tests.Models;

/// <summary>
/// Ollama model names resolved through a models directory laid out as Ollama lays it out (<see cref="OllamaLayout"/>)
/// to the GGUF blob that <see cref="ModelProfileReader"/> then reads; every broken layout is refused naming the file.
/// </summary>
public sealed class OllamaModelStoreTests : IDisposable
{
    private readonly TempDirectory dir = new();

    public void Dispose() => dir.Dispose();

    private string Models => dir.File("ollama");

    private string WriteGguf()
    {
        var path = dir.File("tiny.gguf");
        Small.Write(path);
        return path;
    }

    private static SyntheticModel Small => new()
    {
        Name = "small",
        Layers = 4,
        Embedding = 256,
        Heads = 4,
        KvHeads = 2,
        FeedForward = 512,
        Vocab = 1000,
        Context = 4096,
    };

    [Fact]
    public void A_tag_resolves_through_its_manifest_to_the_gguf_blob()
    {
        var blob = OllamaLayout.Add(Models, WriteGguf(), "qwen", "0.5b");
        var store = new OllamaModelStore(Models);

        Assert.Equal(blob, store.ResolveGguf("qwen:0.5b"));
        // Namespace "library" is implied, names are stored lower-case, and the registry may be named.
        Assert.Equal(blob, store.ResolveGguf("library/Qwen:0.5B"));
        Assert.Equal(blob, store.ResolveGguf($"{OllamaLayout.Registry}/library/qwen:0.5b"));
        var profile = ModelProfileReader.Read(store.ResolveGguf("qwen:0.5b"), TestContext.Current.CancellationToken);
        Assert.Equal(4, profile.LayerCount);
        Assert.Equal(2UL, profile.MaxKvHeadCount);
    }

    [Fact]
    public void A_tag_without_a_version_means_latest_and_user_namespaces_are_kept()
    {
        var latest = OllamaLayout.Add(Models, WriteGguf(), "llama3", "latest");
        var user = OllamaLayout.Add(Models, dir.File("tiny.gguf"), "mine", "v1", ns: "someone");
        var store = new OllamaModelStore(Models);

        Assert.Equal(latest, store.ResolveGguf("llama3"));
        Assert.Equal(user, store.ResolveGguf("someone/mine:v1"));
    }

    [Fact]
    public void Missing_and_broken_layouts_are_refused_naming_the_file()
    {
        var gguf = WriteGguf();
        var store = new OllamaModelStore(Models);

        var missing = Assert.Throws<OllamaModelException>(() => store.ResolveGguf("qwen:0.5b"));
        Assert.Contains("no such manifest: \"qwen:0.5b\" is not pulled into", missing.Message, StringComparison.Ordinal);

        var blob = OllamaLayout.Add(Models, gguf, "qwen", "0.5b");
        File.Delete(blob);
        var gone = Assert.Throws<OllamaModelException>(() => store.ResolveGguf("qwen:0.5b"));
        Assert.Contains($"the model layer's blob {blob} is missing", gone.Message, StringComparison.Ordinal);

        var manifest = Path.Combine(Models, "manifests", OllamaLayout.Registry, "library", "qwen", "0.5b");
        File.WriteAllText(manifest, """{"schemaVersion":2,"layers":[{"mediaType":"application/vnd.ollama.image.template","digest":"sha256:00"}]}""");
        var noModel = Assert.Throws<OllamaModelException>(() => store.ResolveGguf("qwen:0.5b"));
        Assert.Equal($"{manifest}: no layer has media type 'application/vnd.ollama.image.model'", noModel.Message);

        File.WriteAllText(manifest, """{"layers":[{"mediaType":"application/vnd.ollama.image.model","digest":"sha256:../../etc"}]}""");
        var badDigest = Assert.Throws<OllamaModelException>(() => store.ResolveGguf("qwen:0.5b"));
        Assert.Contains("is not sha256:<64 lower-case hex digits>", badDigest.Message, StringComparison.Ordinal);

        File.WriteAllText(manifest, "{\"layers\": [");
        Assert.Contains("not valid JSON", Assert.Throws<OllamaModelException>(() => store.ResolveGguf("qwen:0.5b")).Message, StringComparison.Ordinal);

        Assert.Contains("not an Ollama model name", Assert.Throws<OllamaModelException>(() => store.ResolveGguf("a/b/c/d")).Message, StringComparison.Ordinal);
        Assert.Contains("not an Ollama model name", Assert.Throws<OllamaModelException>(() => store.ResolveGguf("../x")).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_name_pulled_from_two_registries_must_name_one()
    {
        var gguf = WriteGguf();
        OllamaLayout.Add(Models, gguf, "qwen", "0.5b");
        var other = OllamaLayout.Add(Models, gguf, "qwen", "0.5b", registry: "mirror.localhost");
        var store = new OllamaModelStore(Models);

        var ambiguous = Assert.Throws<OllamaModelException>(() => store.ResolveGguf("qwen:0.5b"));
        Assert.Contains("is pulled from 2 registries", ambiguous.Message, StringComparison.Ordinal);
        Assert.Equal(other, store.ResolveGguf("mirror.localhost/library/qwen:0.5b"));
    }
}
