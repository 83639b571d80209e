using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Models.Gguf;
using UnifiedLlm.Daemon.Models.SafeTensors;

namespace UnifiedLlm.Daemon.Models.Registry;

/// <summary>
/// Model profiles of the configured sources and of the GGUF files and SafeTensors model directories under
/// <c>[scan] directories</c>, cached in SQLite. A model is read again only when its size or mtime changed since the last
/// scan (see <see cref="ModelFileStamp"/>); one that cannot be read is stored with its error so that the next scan and
/// <c>ullmctl model show</c> can say why.
/// </summary>
internal sealed class ModelRegistry(ModelFileStore store, ConfigHolder config, TimeProvider time) : IDisposable
{
    private readonly SemaphoreSlim scanGate = new(1, 1);

    public void Dispose() => scanGate.Dispose();

    public async Task<ScanSummary> ScanAsync(CancellationToken cancellationToken)
    {
        await scanGate.WaitAsync(cancellationToken);
        try
        {
            var current = config.Current;
            var errors = new List<ScanFileError>();
            var ggufFiles = ModelFileFinder.Find(current.Scan.Directories, Sources(current, BackendKind.LlamaCpp), errors);
            var safeTensorsDirectories = SafeTensorsDirectoryFinder.Find(current.Scan.Directories, Sources(current, BackendKind.Vllm), errors);
            var models = ggufFiles.Select(path => (Path: path, Format: ModelProfile.GgufFormat))
                .Concat(safeTensorsDirectories.Select(path => (Path: path, Format: ModelProfile.SafeTensorsFormat)))
                .ToList();
            var paths = models.Select(m => m.Path).ToList();
            var known = await store.ListAsync(cancellationToken);
            int added = 0, updated = 0, unchanged = 0;
            foreach (var (path, format) in models)
            {
                var previous = known.GetValueOrDefault(path);
                var file = await RefreshAsync(path, format, previous, cancellationToken);
                if (ReferenceEquals(file, previous))
                {
                    unchanged++;
                }
                else if (previous is null)
                {
                    added++;
                }
                else
                {
                    updated++;
                }

                if (file.Error is { } error)
                {
                    errors.Add(new ScanFileError(path, error));
                }
            }

            var removed = 0;
            foreach (var gone in known.Keys.Except(paths, StringComparer.Ordinal))
            {
                await store.DeleteAsync(gone, cancellationToken);
                removed++;
            }

            return new ScanSummary(paths.Count, added, updated, unchanged, removed, errors);
        }
        finally
        {
            scanGate.Release();
        }
    }

    /// <summary>The cached entry for a source path, or null when it was never scanned.</summary>
    public Task<ScannedModelFile?> FindAsync(string path, CancellationToken cancellationToken) =>
        store.FindAsync(Path.GetFullPath(path), cancellationToken);

    /// <summary>
    /// The profile of <paramref name="path"/> (a GGUF file, or a SafeTensors model directory), read now (and cached)
    /// unless the cached one is still current.
    /// </summary>
    public async Task<ScannedModelFile> ProfileAsync(string path, CancellationToken cancellationToken)
    {
        var full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(path));
        var format = Directory.Exists(full) ? ModelProfile.SafeTensorsFormat : ModelProfile.GgufFormat;
        return await RefreshAsync(full, format, await store.FindAsync(full, cancellationToken), cancellationToken);
    }

    /// <summary>The configured sources to scan; a remote source only once downloaded (before, its absence is no error).</summary>
    private static IEnumerable<string> Sources(UllmConfig config, BackendKind backend) =>
        config.Models.Values.Where(m => m.Backend == backend && m.Source.Length > 0 && (m.Remote is null || File.Exists(m.Source))).Select(m => m.Source);

    /// <summary>The stored entry when the model is unchanged, else a fresh reading (saved).</summary>
    private async Task<ScannedModelFile> RefreshAsync(string path, string format, ScannedModelFile? previous, CancellationToken cancellationToken)
    {
        ModelFileStamp? stamp;
        try
        {
            stamp = ModelFileStamp.Of(path, format);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A directory listing can fail (permissions, removed mid-scan); that is this model's error, not the scan's.
            var unreadable = new ScannedModelFile(path, 0, DateTimeOffset.UnixEpoch, null, e.Message, time.GetUtcNow()) { Format = format };
            await store.SaveAsync(unreadable, cancellationToken);
            return unreadable;
        }

        if (stamp is null)
        {
            var problem = format == ModelProfile.SafeTensorsFormat ? "directory does not exist" : "file does not exist";
            var missing = new ScannedModelFile(path, 0, DateTimeOffset.UnixEpoch, null, problem, time.GetUtcNow()) { Format = format };
            if (previous?.Error != missing.Error || previous?.Format != format)
            {
                await store.SaveAsync(missing, cancellationToken);
                return missing;
            }

            return previous!;
        }

        if (previous is not null && previous.Format == format && previous.SizeBytes == stamp.SizeBytes && previous.ModifiedAt == stamp.ModifiedAt)
        {
            return previous;
        }

        var (profile, error) = await Task.Run(() => Read(path, format, cancellationToken), cancellationToken);
        var file = new ScannedModelFile(path, stamp.SizeBytes, stamp.ModifiedAt, profile, error, time.GetUtcNow()) { Format = format };
        await store.SaveAsync(file, cancellationToken);
        return file;
    }

    private static (ModelProfile? Profile, string? Error) Read(string path, string format, CancellationToken cancellationToken)
    {
        try
        {
            var profile = format == ModelProfile.SafeTensorsFormat
                ? SafeTensorsProfileReader.Read(path, cancellationToken)
                : ModelProfileReader.Read(path, cancellationToken);
            return (profile, null);
        }
        catch (GgufFormatException e)
        {
            return (null, e.Message);
        }
        catch (SafeTensorsFormatException e)
        {
            return (null, e.Message);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return (null, e.Message);
        }
    }
}
