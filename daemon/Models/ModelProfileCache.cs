using System.Collections.Concurrent;
using UnifiedLlm.Daemon.Models.Registry;

namespace UnifiedLlm.Daemon.Models;

/// <summary>
/// GGUF model profiles kept in memory and read again only when the file's size or mtime changes. Reading a real model's
/// metadata (a vocabulary of 100k+ tokens and its merges) takes 100 ms or more, which every cold load would otherwise pay
/// again. It holds one entry per model path it was asked about.
/// </summary>
internal sealed class ModelProfileCache
{
    private readonly ConcurrentDictionary<string, (ModelFileStamp Stamp, ModelProfile Profile)> profiles = new(StringComparer.Ordinal);

    public ModelProfile Read(string path, CancellationToken cancellationToken)
    {
        var stamp = ModelFileStamp.Of(path, ModelProfile.GgufFormat) ?? throw new FileNotFoundException($"Could not find file '{path}'.", path);
        if (profiles.TryGetValue(path, out var cached) && cached.Stamp == stamp)
        {
            return cached.Profile;
        }

        var profile = ModelProfileReader.Read(path, cancellationToken);
        profiles[path] = (stamp, profile);
        return profile;
    }
}
