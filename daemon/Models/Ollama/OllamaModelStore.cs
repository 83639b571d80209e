using System.Text.Json;
using UnifiedLlm.Daemon.Models.SafeTensors;

namespace UnifiedLlm.Daemon.Models.Ollama;

/// <summary>
/// Finds the GGUF file behind an Ollama model name in Ollama's models directory (<c>OLLAMA_MODELS</c>), as Ollama lays it
/// out: <c>manifests/HOST/NAMESPACE/MODEL/TAG</c> is an OCI-style manifest whose layer with media type
/// <see cref="ModelMediaType"/> names the weights blob by digest, stored as <c>blobs/sha256-HEX</c>.
/// A name is <c>[HOST/][NAMESPACE/]MODEL[:TAG]</c> (namespace "library", tag "latest" when left out; Ollama stores names
/// lower-cased). A name without a host is looked up under every registry directory present, so the default registry is
/// whatever Ollama pulled from; a name found under two registries is ambiguous and refused.
/// </summary>
internal sealed class OllamaModelStore(string modelsDirectory)
{
    public const string ModelMediaType = "application/vnd.ollama.image.model";

    public string ModelsDirectory { get; } = modelsDirectory;

    /// <summary>The models directory ullmd gives its Ollama server (<c>OLLAMA_MODELS</c>) under its data directory.</summary>
    public static string DirectoryUnder(string dataDirectory) => Path.Combine(dataDirectory, "ollama");

    /// <summary>The path of the model's GGUF blob; <see cref="OllamaModelException"/> names what is missing or malformed.</summary>
    public string ResolveGguf(string name)
    {
        var manifest = FindManifest(name);
        var digest = ModelLayerDigest(manifest);
        var colon = digest.IndexOf(':', StringComparison.Ordinal);
        var (algorithm, hex) = colon > 0 ? (digest[..colon], digest[(colon + 1)..]) : ("", "");
        if (algorithm != "sha256" || hex.Length != 64 || !hex.All(char.IsAsciiHexDigitLower))
        {
            throw new OllamaModelException(manifest, $"the model layer's digest '{digest}' is not sha256:<64 lower-case hex digits>");
        }

        var blob = Path.Combine(ModelsDirectory, "blobs", $"sha256-{hex}");
        return File.Exists(blob)
            ? blob
            : throw new OllamaModelException(manifest, $"the model layer's blob {blob} is missing (an interrupted pull? pull {name} again)");
    }

    /// <summary>The manifest file for <paramref name="name"/>.</summary>
    public string FindManifest(string name)
    {
        var parsed = OllamaModelName.Parse(name);
        var manifests = Path.Combine(ModelsDirectory, "manifests");
        if (parsed.Host is { } host)
        {
            var path = Path.Combine(manifests, host, parsed.Namespace, parsed.Model, parsed.Tag);
            return File.Exists(path)
                ? path
                : throw new OllamaModelException(path, $"no such manifest: \"{name}\" is not pulled into {ModelsDirectory}");
        }

        var found = Directory.Exists(manifests)
            ? Directory.EnumerateDirectories(manifests)
                .Select(registry => Path.Combine(registry, parsed.Namespace, parsed.Model, parsed.Tag))
                .Where(File.Exists)
                .Order(StringComparer.Ordinal)
                .ToList()
            : [];
        return found switch
        {
            [var only] => only,
            [] => throw new OllamaModelException(
                Path.Combine(manifests, "*", parsed.Namespace, parsed.Model, parsed.Tag), $"no such manifest: \"{name}\" is not pulled into {ModelsDirectory}"),
            _ => throw new OllamaModelException(
                found[0], $"\"{name}\" is pulled from {found.Count} registries ({string.Join(", ", found.Select(f => Path.GetRelativePath(manifests, f)))}); name the registry in source"),
        };
    }

    private static string ModelLayerDigest(string manifest)
    {
        ReadOnlyMemory<byte> bytes;
        try
        {
            bytes = SmallJsonFile.ReadAllBytes(manifest);
        }
        catch (SafeTensorsFormatException e)
        {
            throw new OllamaModelException(manifest, e.Problem);
        }

        try
        {
            using var document = JsonDocument.Parse(bytes);
            if (document.RootElement.ValueKind != JsonValueKind.Object
                || !document.RootElement.TryGetProperty("layers", out var layers) || layers.ValueKind != JsonValueKind.Array)
            {
                throw new OllamaModelException(manifest, "the manifest has no 'layers' array");
            }

            var models = layers.EnumerateArray()
                .Where(l => l.ValueKind == JsonValueKind.Object && l.TryGetProperty("mediaType", out var type) && type.ValueKind == JsonValueKind.String && type.GetString() == ModelMediaType)
                .ToList();
            return models switch
            {
                [var layer] when layer.TryGetProperty("digest", out var digest) && digest.ValueKind == JsonValueKind.String => digest.GetString()!,
                [_] => throw new OllamaModelException(manifest, $"the '{ModelMediaType}' layer has no string 'digest'"),
                [] => throw new OllamaModelException(manifest, $"no layer has media type '{ModelMediaType}'"),
                _ => throw new OllamaModelException(manifest, $"{models.Count} layers have media type '{ModelMediaType}'; one was expected"),
            };
        }
        catch (JsonException e)
        {
            throw new OllamaModelException(manifest, $"not valid JSON (line {e.LineNumber + 1}, byte {e.BytePositionInLine + 1}): {e.Message}");
        }
    }
}

/// <summary>An Ollama model name split as Ollama splits it; the host is null when the name has none.</summary>
internal sealed record OllamaModelName(string? Host, string Namespace, string Model, string Tag)
{
    public const string DefaultNamespace = "library";
    public const string DefaultTag = "latest";

    public static OllamaModelName Parse(string name)
    {
        var text = name.Trim().ToLowerInvariant();
        var at = text.IndexOf('@', StringComparison.Ordinal);
        if (at >= 0)
        {
            text = text[..at];
        }

        var parts = text.Split('/');
        var last = parts[^1];
        var colon = last.LastIndexOf(':');
        var (model, tag) = colon >= 0 ? (last[..colon], last[(colon + 1)..]) : (last, DefaultTag);
        var parsed = parts.Length switch
        {
            1 => new OllamaModelName(null, DefaultNamespace, model, tag),
            2 => new OllamaModelName(null, parts[0], model, tag),
            3 => new OllamaModelName(parts[0], parts[1], model, tag),
            _ => null,
        };
        if (parsed is null || new[] { parsed.Namespace, parsed.Model, parsed.Tag }.Any(p => p.Length == 0 || p is "." or "..") || parsed.Host is "" or "." or "..")
        {
            throw new OllamaModelException(name, "not an Ollama model name ([host/][namespace/]model[:tag])");
        }

        return parsed;
    }
}

/// <summary>An Ollama model cannot be found or read; <see cref="Location"/> is the manifest (or the name) concerned.</summary>
internal sealed class OllamaModelException(string location, string problem) : Exception($"{location}: {problem}")
{
    public string Location { get; } = location;
}
