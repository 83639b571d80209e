using System.Text.Json;

namespace UnifiedLlm.Daemon.Models.SafeTensors;

/// <summary>
/// The keys of a Hugging Face <c>config.json</c> that sizing needs, read with errors that name the file and the key.
/// Unknown keys are ignored; a key that is present with the wrong type is an error, not a silent default.
/// </summary>
internal sealed class HuggingFaceConfig
{
    private readonly string path;
    private readonly Dictionary<string, JsonElement> keys;

    private HuggingFaceConfig(string path, Dictionary<string, JsonElement> keys)
    {
        this.path = path;
        this.keys = keys;
    }

    public static HuggingFaceConfig Read(string path)
    {
        var bytes = File.Exists(path) ? SmallJsonFile.ReadAllBytes(path) : throw new SafeTensorsFormatException(path, null, "config.json is missing");

        try
        {
            using var document = JsonDocument.Parse(bytes);
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new SafeTensorsFormatException(path, null, "config.json must hold a JSON object");
            }

            var keys = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
            foreach (var property in document.RootElement.EnumerateObject())
            {
                keys[property.Name] = property.Value.Clone();
            }

            return new HuggingFaceConfig(path, keys);
        }
        catch (JsonException e)
        {
            throw new SafeTensorsFormatException(path, null, $"not valid JSON (line {e.LineNumber + 1}, byte {e.BytePositionInLine + 1}): {e.Message}");
        }
    }

    public ulong RequiredUInt(string key) => UInt(key) ?? throw Error(key, "is missing");

    public ulong? UInt(string key)
    {
        if (!keys.TryGetValue(key, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return value.ValueKind == JsonValueKind.Number && value.TryGetUInt64(out var number)
            ? number
            : throw Error(key, $"must be a non-negative integer, not {value.GetRawText()}");
    }

    public string? String(string key)
    {
        if (!keys.TryGetValue(key, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return value.ValueKind == JsonValueKind.String ? value.GetString() : throw Error(key, $"must be a string, not {value.GetRawText()}");
    }

    public bool? Bool(string key)
    {
        if (!keys.TryGetValue(key, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return value.ValueKind is JsonValueKind.True or JsonValueKind.False
            ? value.GetBoolean()
            : throw Error(key, $"must be true or false, not {value.GetRawText()}");
    }

    /// <summary>The first entry of a string array such as <c>architectures</c>.</summary>
    public string? FirstString(string key)
    {
        if (!keys.TryGetValue(key, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.Array || value.EnumerateArray().Any(e => e.ValueKind != JsonValueKind.String))
        {
            throw Error(key, "must be an array of strings");
        }

        return value.GetArrayLength() > 0 ? value[0].GetString() : null;
    }

    /// <summary>A string key of a nested object, such as <c>quantization_config.quant_method</c>.</summary>
    public string? NestedString(string key, string inner)
    {
        if (!keys.TryGetValue(key, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.Object)
        {
            throw Error(key, "must be an object");
        }

        if (!value.TryGetProperty(inner, out var nested) || nested.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return nested.ValueKind == JsonValueKind.String ? nested.GetString() : throw Error($"{key}.{inner}", "must be a string");
    }

    public SafeTensorsFormatException Error(string key, string problem) => new(path, null, $"'{key}' {problem}");
}
