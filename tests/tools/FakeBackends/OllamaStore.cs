using System.Security.Cryptography;
using System.Text.Json;

namespace UnifiedLlm.Tools.FakeBackends;

/// <summary>
/// The models Ollama knows: those pulled into OLLAMA_MODELS, each a manifest at manifests/REGISTRY/NAMESPACE/MODEL/TAG
/// whose application/vnd.ollama.image.model layer names the weights blob (blobs/sha256-HEX). A name without a registry
/// matches any registry directory; namespace "library" is shown without its prefix, as Ollama shows it.
/// </summary>
internal sealed class OllamaStore(string modelsDirectory)
{
    public sealed record Pulled(string Name, string Manifest, string Blob, long Size, string Digest, DateTimeOffset Modified);

    public string Directory { get; } = modelsDirectory;

    /// <summary>Every blob the model's manifest names (config and layers) that exists.</summary>
    public IEnumerable<string> Blobs(Pulled model)
    {
        using var document = JsonDocument.Parse(File.ReadAllBytes(model.Manifest));
        var digests = document.RootElement.GetProperty("layers").EnumerateArray().Select(l => l.GetProperty("digest").GetString()!).ToList();
        if (document.RootElement.TryGetProperty("config", out var config))
        {
            digests.Add(config.GetProperty("digest").GetString()!);
        }

        return [.. digests.Select(d => Path.Combine(Directory, "blobs", d.Replace(':', '-'))).Where(File.Exists)];
    }

    public Pulled? Find(string name)
    {
        var text = name.ToLowerInvariant();
        var parts = text.Split('/');
        var last = parts[^1];
        var (model, tag) = last.Contains(':', StringComparison.Ordinal) ? (last[..last.LastIndexOf(':')], last[(last.LastIndexOf(':') + 1)..]) : (last, "latest");
        var (host, ns) = parts.Length switch
        {
            1 => ((string?)null, "library"),
            2 => (null, parts[0]),
            _ => (parts[0], parts[1]),
        };
        return All().FirstOrDefault(p =>
        {
            var relative = Path.GetRelativePath(Path.Combine(Directory, "manifests"), p.Manifest).Split('/');
            return (host is null || relative[0] == host) && relative[1] == ns && relative[2] == model && relative[3] == tag;
        });
    }

    public IEnumerable<Pulled> All()
    {
        var manifests = Path.Combine(Directory, "manifests");
        if (!System.IO.Directory.Exists(manifests))
        {
            yield break;
        }

        foreach (var file in System.IO.Directory.EnumerateFiles(manifests, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            var relative = Path.GetRelativePath(manifests, file).Split('/');
            if (relative.Length != 4 || Read(file) is not { } blob)
            {
                continue;
            }

            var shown = (relative[1] == "library" ? "" : relative[1] + "/") + $"{relative[2]}:{relative[3]}";
            var digest = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(file)));
            yield return new Pulled(shown, file, blob, new FileInfo(blob).Length, digest, File.GetLastWriteTimeUtc(file));
        }
    }

    /// <summary>The weights blob the manifest names, or null when it names none that exists.</summary>
    private string? Read(string manifest)
    {
        using var document = JsonDocument.Parse(File.ReadAllBytes(manifest));
        foreach (var layer in document.RootElement.GetProperty("layers").EnumerateArray())
        {
            if (layer.GetProperty("mediaType").GetString() == "application/vnd.ollama.image.model")
            {
                var blob = Path.Combine(Directory, "blobs", layer.GetProperty("digest").GetString()!.Replace(':', '-'));
                return File.Exists(blob) ? blob : null;
            }
        }

        return null;
    }
}
