using System.Text.Json;

namespace UnifiedLlm.Daemon.Models.SafeTensors;

/// <summary>
/// The weight files of a SafeTensors model directory: the shards named by <c>model.safetensors.index.json</c> when the
/// directory has one (other .safetensors files next to them, such as Mistral's consolidated copy, are not part of the
/// model), else every <c>*.safetensors</c> file in the directory.
/// </summary>
internal sealed record SafeTensorsShards(string Directory, string? IndexPath, IReadOnlyList<string> Files, IReadOnlyDictionary<string, string> WeightMap)
{
    public const string ConfigFileName = "config.json";
    public const string IndexFileName = "model.safetensors.index.json";

    public string ConfigPath => Path.Combine(Directory, ConfigFileName);

    /// <summary>True when <paramref name="directory"/> looks like a SafeTensors model: a config.json and at least one .safetensors file.</summary>
    public static bool IsModelDirectory(string directory) =>
        File.Exists(Path.Combine(directory, ConfigFileName)) && System.IO.Directory.EnumerateFiles(directory, "*.safetensors").Any();

    public static SafeTensorsShards Find(string directory)
    {
        var index = Path.Combine(directory, IndexFileName);
        if (!File.Exists(index))
        {
            var files = System.IO.Directory.EnumerateFiles(directory, "*.safetensors").Order(StringComparer.Ordinal).ToList();
            return files.Count > 0
                ? new SafeTensorsShards(directory, null, files, new Dictionary<string, string>())
                : throw new SafeTensorsFormatException(directory, null, "the directory has no .safetensors file");
        }

        var weightMap = ReadWeightMap(index);
        var shards = weightMap.Values.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).Select(name => Path.Combine(directory, name)).ToList();
        return new SafeTensorsShards(directory, index, shards, weightMap);
    }

    private static Dictionary<string, string> ReadWeightMap(string index)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(SmallJsonFile.ReadAllBytes(index));
        }
        catch (JsonException e)
        {
            throw new SafeTensorsFormatException(index, e.BytePositionInLine, $"not valid JSON: {e.Message}");
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object
                || !document.RootElement.TryGetProperty("weight_map", out var map)
                || map.ValueKind != JsonValueKind.Object)
            {
                throw new SafeTensorsFormatException(index, null, "'weight_map' is missing or not an object");
            }

            var weights = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var entry in map.EnumerateObject())
            {
                var file = entry.Value.ValueKind == JsonValueKind.String ? entry.Value.GetString()! : "";
                if (!file.EndsWith(".safetensors", StringComparison.Ordinal) || Path.GetFileName(file) != file)
                {
                    throw new SafeTensorsFormatException(index, null, $"'weight_map.{entry.Name}' must name a .safetensors file in the same directory");
                }

                weights[entry.Name] = file;
            }

            return weights.Count > 0 ? weights : throw new SafeTensorsFormatException(index, null, "'weight_map' is empty");
        }
    }
}
