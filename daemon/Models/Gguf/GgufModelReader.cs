using System.Globalization;
using System.Text.RegularExpressions;

namespace UnifiedLlm.Daemon.Models.Gguf;

/// <summary>Reads a model's GGUF file, or every part of a split model given the path of any part.</summary>
internal static partial class GgufModelReader
{
    public static GgufModel Read(string path, CancellationToken cancellationToken)
    {
        var match = SplitName().Match(Path.GetFileName(path));
        if (!match.Success)
        {
            return new GgufModel([GgufReader.Read(path, cancellationToken)]);
        }

        var prefix = Path.Combine(Path.GetDirectoryName(path) ?? ".", match.Groups["prefix"].Value);
        var countInName = int.Parse(match.Groups["count"].Value, CultureInfo.InvariantCulture);
        var first = GgufReader.Read(PartPath(prefix, 1, countInName), cancellationToken);
        var count = SplitKey(first, "split.count");
        if (count != countInName)
        {
            throw new GgufFormatException(first.Source, null, $"split.count is {count} but the file name says {countInName} parts");
        }

        var parts = new List<GgufFile> { first };
        for (var part = 2; part <= count; part++)
        {
            var partPath = PartPath(prefix, part, count);
            if (!File.Exists(partPath))
            {
                throw new GgufFormatException(first.Source, null, $"split part {part} of {count} is missing: {partPath}");
            }

            parts.Add(GgufReader.Read(partPath, cancellationToken));
        }

        for (var i = 0; i < parts.Count; i++)
        {
            var no = SplitKey(parts[i], "split.no");
            if (no != i)
            {
                throw new GgufFormatException(parts[i].Source, null, $"split.no is {no}, expected {i}");
            }
        }

        var model = new GgufModel(parts);
        var declared = first.Metadata.GetUInt64("split.tensors.count");
        if (declared is { } total && total != (ulong)model.Tensors.Count)
        {
            throw new GgufFormatException(first.Source, null, $"split.tensors.count is {total} but the parts hold {model.Tensors.Count} tensors");
        }

        return model;
    }

    public static string PartPath(string prefix, int part, int count) =>
        string.Create(CultureInfo.InvariantCulture, $"{prefix}-{part:D5}-of-{count:D5}.gguf");

    private static int SplitKey(GgufFile file, string key)
    {
        var value = file.Metadata.GetUInt64(key)
            ?? throw new GgufFormatException(file.Source, null, $"split part has no '{key}' metadata");
        return value <= int.MaxValue ? (int)value : throw new GgufFormatException(file.Source, null, $"'{key}' is {value}, out of range");
    }

    [GeneratedRegex(@"^(?<prefix>.+)-(?<no>\d{5})-of-(?<count>\d{5})\.gguf$")]
    private static partial Regex SplitName();
}
