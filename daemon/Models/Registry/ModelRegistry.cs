using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Models.Gguf;

namespace UnifiedLlm.Daemon.Models.Registry;

/// <summary>
/// Model profiles of the configured sources and of the GGUF files under <c>[scan] directories</c>, cached in SQLite.
/// A file is read again only when its size or mtime changed since the last scan; a file that cannot be read is stored
/// with its error so that the next scan and <c>ullmctl model show</c> can say why.
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
            var paths = ModelFileFinder.Find(current.Scan.Directories, LlamaCppSources(current), errors);
            var known = await store.ListAsync(cancellationToken);
            int added = 0, updated = 0, unchanged = 0;
            foreach (var path in paths)
            {
                var previous = known.GetValueOrDefault(path);
                var file = await RefreshAsync(path, previous, cancellationToken);
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

    /// <summary>The profile of <paramref name="path"/>, read now (and cached) unless the cached one is still current.</summary>
    public async Task<ScannedModelFile> ProfileAsync(string path, CancellationToken cancellationToken)
    {
        var full = Path.GetFullPath(path);
        return await RefreshAsync(full, await store.FindAsync(full, cancellationToken), cancellationToken);
    }

    private static IEnumerable<string> LlamaCppSources(UllmConfig config) =>
        config.Models.Values.Where(m => m.Backend == BackendKind.LlamaCpp && m.Source.Length > 0).Select(m => m.Source);

    /// <summary>The stored entry when the file is unchanged, else a fresh reading (saved).</summary>
    private async Task<ScannedModelFile> RefreshAsync(string path, ScannedModelFile? previous, CancellationToken cancellationToken)
    {
        var info = new FileInfo(path);
        if (!info.Exists)
        {
            var missing = new ScannedModelFile(path, 0, DateTimeOffset.UnixEpoch, null, "file does not exist", time.GetUtcNow());
            if (previous?.Error != missing.Error)
            {
                await store.SaveAsync(missing, cancellationToken);
                return missing;
            }

            return previous!;
        }

        var modified = DateTimeOffset.FromUnixTimeMilliseconds(new DateTimeOffset(info.LastWriteTimeUtc).ToUnixTimeMilliseconds());
        if (previous is not null && previous.SizeBytes == info.Length && previous.ModifiedAt == modified)
        {
            return previous;
        }

        var (profile, error) = await Task.Run(() => Read(path, cancellationToken), cancellationToken);
        var file = new ScannedModelFile(path, info.Length, modified, profile, error, time.GetUtcNow());
        await store.SaveAsync(file, cancellationToken);
        return file;
    }

    private static (ModelProfile? Profile, string? Error) Read(string path, CancellationToken cancellationToken)
    {
        try
        {
            return (ModelProfileReader.Read(path, cancellationToken), null);
        }
        catch (GgufFormatException e)
        {
            return (null, e.Message);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return (null, e.Message);
        }
    }
}
