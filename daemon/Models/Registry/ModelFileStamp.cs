using UnifiedLlm.Daemon.Models.SafeTensors;

namespace UnifiedLlm.Daemon.Models.Registry;

/// <summary>
/// Size and mtime that decide whether a model must be read again. For a GGUF file, the file's own; for a SafeTensors
/// directory, the summed size of its shards and the newest mtime of config.json, the shard index and the shards, so a
/// change to any of them means a rescan. Null when the model is not there.
/// </summary>
internal sealed record ModelFileStamp(long SizeBytes, DateTimeOffset ModifiedAt)
{
    public static ModelFileStamp? Of(string path, string format) =>
        format == ModelProfile.SafeTensorsFormat ? OfDirectory(path) : OfFile(path);

    private static ModelFileStamp? OfFile(string path)
    {
        var info = new FileInfo(path);
        return info.Exists ? new ModelFileStamp(info.Length, Milliseconds(info.LastWriteTimeUtc)) : null;
    }

    private static ModelFileStamp? OfDirectory(string path)
    {
        if (!Directory.Exists(path))
        {
            return null;
        }

        var weights = Directory.EnumerateFiles(path, "*.safetensors").Select(f => new FileInfo(f)).ToList();
        var side = new[] { SafeTensorsShards.ConfigFileName, SafeTensorsShards.IndexFileName }
            .Select(name => new FileInfo(Path.Combine(path, name)))
            .Where(f => f.Exists);
        var newest = weights.Concat(side).Select(f => f.LastWriteTimeUtc).DefaultIfEmpty(DateTime.UnixEpoch).Max();
        return new ModelFileStamp(weights.Sum(f => f.Length), Milliseconds(newest));
    }

    private static DateTimeOffset Milliseconds(DateTime utc) =>
        DateTimeOffset.FromUnixTimeMilliseconds(new DateTimeOffset(utc).ToUnixTimeMilliseconds());
}
