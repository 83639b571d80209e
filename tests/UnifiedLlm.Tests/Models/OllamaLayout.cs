using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace UnifiedLlm.Tests.Models;

/// <summary>
/// Writes an Ollama models directory (OLLAMA_MODELS) the way Ollama lays it out after a pull: content-addressed blobs
/// <c>blobs/sha256-HEX</c> (the GGUF weights, a chat template, parameters and the config) and an OCI-style manifest at
/// <c>manifests/REGISTRY/NAMESPACE/MODEL/TAG</c> naming them by digest and media type. The registry directory is a
/// loopback name here; Ollama's default one is its own registry's host name.
/// </summary>
internal static class OllamaLayout
{
    public const string Registry = "registry.localhost";

    /// <summary>Stores <paramref name="gguf"/> as the model of <paramref name="ns"/>/<paramref name="model"/>:<paramref name="tag"/>; returns the blob path.</summary>
    public static string Add(string modelsDirectory, string gguf, string model, string tag, string ns = "library", string registry = Registry)
    {
        var blobs = Path.Combine(modelsDirectory, "blobs");
        Directory.CreateDirectory(blobs);
        var weights = Blob(blobs, File.ReadAllBytes(gguf));
        var template = Blob(blobs, "{{ .Prompt }}"u8.ToArray());
        var parameters = Blob(blobs, """{"stop":["<|im_end|>"]}"""u8.ToArray());
        var rootfs = new JsonObject { ["type"] = "layers", ["diff_ids"] = new JsonArray(weights.Digest) };
        var config = Blob(blobs, Encoding.UTF8.GetBytes(new JsonObject { ["model_format"] = "gguf", ["model_family"] = "llama", ["file_type"] = "F16", ["rootfs"] = rootfs }.ToJsonString()));
        var manifest = new JsonObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = "application/vnd.docker.distribution.manifest.v2+json",
            ["config"] = Layer("application/vnd.docker.container.image.v1+json", config),
            ["layers"] = new JsonArray(
                Layer("application/vnd.ollama.image.model", weights),
                Layer("application/vnd.ollama.image.template", template),
                Layer("application/vnd.ollama.image.params", parameters)),
        };
        var path = Path.Combine(modelsDirectory, "manifests", registry, ns, model, tag);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, manifest.ToJsonString());
        return weights.Path;
    }

    private static (string Digest, long Size, string Path) Blob(string blobs, byte[] content)
    {
        var hex = Convert.ToHexStringLower(SHA256.HashData(content));
        var path = Path.Combine(blobs, $"sha256-{hex}");
        File.WriteAllBytes(path, content);
        return ($"sha256:{hex}", content.Length, path);
    }

    private static JsonObject Layer(string mediaType, (string Digest, long Size, string Path) blob) =>
        new() { ["mediaType"] = mediaType, ["digest"] = blob.Digest, ["size"] = blob.Size };
}
