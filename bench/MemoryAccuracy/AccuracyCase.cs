using System.Globalization;
using UnifiedLlm.Daemon.Models;
using UnifiedLlm.Daemon.Models.Gguf;
using UnifiedLlm.Daemon.Models.Sizing;

namespace UnifiedLlm.Bench.MemoryAccuracy;

/// <summary>One load to measure: a model shape written with random or zero weights of one type, its slots and KV cache type.</summary>
internal sealed record AccuracyCase(RandomModelShape Shape, GgmlType Weights, bool RandomWeights, int Slots, KvCacheType Cache)
{
    public string FileName => RandomWeights
        ? $"random-{Shape.EmbeddingLength}x{Shape.LayerCount}-{Weights.ToString().ToLowerInvariant()}.gguf"
        : $"{Shape.Name}-zero-{Weights.ToString().ToLowerInvariant()}.gguf";

    /// <summary>Writes the model under <paramref name="work"/> unless it is already there, and returns its path.</summary>
    public string EnsureModel(string work)
    {
        var path = Path.Combine(work, FileName);
        if (!File.Exists(path))
        {
            Console.Error.WriteLine($"writing {path}");
            var partial = path + ".partial";
            if (RandomWeights)
            {
                TinyModel.Write(partial, Shape, Weights);
            }
            else
            {
                TinyModel.WriteZeroWeights(partial, Shape, Weights);
            }

            File.Move(partial, path);
        }

        return path;
    }

    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"{FileName} ×{Slots} KV {Cache}");
}
