namespace UnifiedLlm.Daemon.Supervision;

/// <summary>
/// Notices that one file was written to, through inotify (<see cref="FileSystemWatcher"/>), so that its follower reads
/// as soon as it grows instead of at its next poll. The watch is set only while <see cref="SetWatch"/> asks for it: unset,
/// a write wakes nothing. Where no watch can be set (inotify's limits) or it broke (an event queue overflow),
/// <see cref="Backstop"/> is the poll's old pace; otherwise it only covers a notice lost.
/// </summary>
internal sealed class FileChanges : IDisposable
{
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(50);
    private static readonly TimeSpan Watched = TimeSpan.FromSeconds(1);

    private readonly Pulse changed = new();
    private FileSystemWatcher? watcher;
    private volatile bool broken;

    private FileChanges(string path)
    {
        try
        {
            watcher = new FileSystemWatcher(Path.GetDirectoryName(Path.GetFullPath(path))!, Path.GetFileName(path))
            {
                NotifyFilter = NotifyFilters.Size,
            };
            watcher.Changed += (_, _) => Signal();
            watcher.Error += (_, _) =>
            {
                broken = true;
                Signal();
            };
        }
        catch (Exception e) when (e is IOException or ArgumentException or UnauthorizedAccessException)
        {
            Unwatchable();
        }
    }

    /// <summary>How long a follower waits for a notice before it reads anyway.</summary>
    public TimeSpan Backstop => watcher is null || broken ? Poll : Watched;

    /// <summary>Changes to <paramref name="path"/>, watched once <see cref="SetWatch"/> asks for it.</summary>
    public static FileChanges Unwatched(string path) => new(path);

    /// <summary>Sets or removes the watch; true when it was just set, so that a write before it is looked for now.</summary>
    public bool SetWatch(bool on)
    {
        if (watcher is null || watcher.EnableRaisingEvents == on)
        {
            return false;
        }

        try
        {
            watcher.EnableRaisingEvents = on;
            return on;
        }
        catch (Exception e) when (e is IOException or ArgumentException or UnauthorizedAccessException)
        {
            Unwatchable();
            return false;
        }
    }

    /// <summary>Completes at the first notice after the call: taken before a read, so a write after that read is not missed.</summary>
    public Task Next() => changed.Next();

    public void Dispose() => watcher?.Dispose();

    private void Signal() => changed.Fire();

    private void Unwatchable()
    {
        watcher?.Dispose();
        watcher = null;
    }
}
