using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace UnifiedLlm.Daemon.Gpu;

/// <summary>
/// Polls NVML every <see cref="GpuMonitorOptions.PollInterval"/>, keeps the latest <see cref="GpuSnapshot"/> and
/// attributes GPU processes to our units. Without a usable NVIDIA library, driver or GPU it runs in CPU mode: the reason
/// is logged once and NVML is tried again every <see cref="GpuMonitorOptions.CpuModeRetryInterval"/> or on
/// <see cref="RefreshAsync"/>. Every poll publishes a snapshot stamped with the poll's time to <see cref="WatchAsync"/>
/// readers, CPU mode included.
/// </summary>
internal sealed class GpuMonitor : BackgroundService
{
    /// <summary>The CPU-mode reason of <see cref="Current"/> until the first poll has finished.</summary>
    public const string NotReadYetReason = "GPUs have not been read yet";

    private static readonly IReadOnlyDictionary<int, string> NoUnitPids = new Dictionary<int, string>();

    private readonly GpuMonitorOptions options;
    private readonly IUnitPidSource unitPids;
    private readonly TimeProvider time;
    private readonly ILogger<GpuMonitor> logger;
    private readonly SemaphoreSlim pollGate = new(1, 1);
    private readonly List<Channel<GpuSnapshot>> watchers = [];
    private readonly Dictionary<int, string> loggedDeviceFailures = [];
    private GpuSnapshot current;
    private NvmlSession? session;
    private DateTimeOffset nextInitAttempt = DateTimeOffset.MinValue;
    private string? loggedCpuModeReason;
    private string? loggedUnitPidError;
    private bool stopped;

    public GpuMonitor(GpuMonitorOptions options, IUnitPidSource unitPids, TimeProvider time, ILogger<GpuMonitor> logger)
    {
        this.options = options;
        this.unitPids = unitPids;
        this.time = time;
        this.logger = logger;
        current = GpuSnapshot.CpuMode(time.GetUtcNow(), NotReadYetReason);
    }

    /// <summary>The latest snapshot (safe to read from any thread).</summary>
    public GpuSnapshot Current => Volatile.Read(ref current);

    /// <summary>Reads the GPUs now, trying NVML again at once if in CPU mode (e.g. after a driver was loaded).</summary>
    public Task<GpuSnapshot> RefreshAsync(CancellationToken cancellationToken) => PollAsync(retryNvmlNow: true, cancellationToken);

    /// <summary>The current snapshot, then each new one until the monitor stops; a slow reader skips to the newest.</summary>
    public async IAsyncEnumerable<GpuSnapshot> WatchAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var channel = Channel.CreateBounded<GpuSnapshot>(
            new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true });
        lock (watchers)
        {
            watchers.Add(channel);
            channel.Writer.TryWrite(current);
            if (stopped)
            {
                channel.Writer.TryComplete();
            }
        }

        try
        {
            await foreach (var snapshot in channel.Reader.ReadAllAsync(cancellationToken))
            {
                yield return snapshot;
            }
        }
        finally
        {
            lock (watchers)
            {
                watchers.Remove(channel);
            }
        }
    }

    public override void Dispose()
    {
        session?.Dispose();
        session = null;
        pollGate.Dispose();
        base.Dispose();
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.PollInterval, time);
        Exception? failure = null;
        try
        {
            do
            {
                await PollAsync(retryNvmlNow: false, stoppingToken);
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            failure = e;
            throw;
        }
        finally
        {
            EndWatches(failure);
            await CloseSessionAsync();
        }
    }

    /// <summary>Ends every <see cref="WatchAsync"/> loop, with the monitor's failure if it died.</summary>
    private void EndWatches(Exception? failure)
    {
        lock (watchers)
        {
            stopped = true;
            foreach (var watcher in watchers)
            {
                watcher.Writer.TryComplete(failure);
            }
        }
    }

    private async Task<GpuSnapshot> PollAsync(bool retryNvmlNow, CancellationToken cancellationToken)
    {
        await pollGate.WaitAsync(cancellationToken);
        try
        {
            return Publish(await ReadAsync(retryNvmlNow, cancellationToken));
        }
        finally
        {
            pollGate.Release();
        }
    }

    private async Task<GpuSnapshot> ReadAsync(bool retryNvmlNow, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        if (session is null)
        {
            if (!retryNvmlNow && now < nextInitAttempt)
            {
                return current with { TakenAt = now };
            }

            if (!NvmlSession.TryOpen(options.NvmlLibraryCandidates, out session, out var reason))
            {
                return EnterCpuMode(now, reason);
            }

            logger.LogInformation(
                "NVML ready: {Library}, driver {Driver}, {Count} GPU(s)", session.Library.Path, session.DriverVersion, session.GpuCount);
            loggedCpuModeReason = null;
        }

        var unitByPid = await ReadUnitPidsAsync(cancellationToken);
        GpuReading reading;
        try
        {
            reading = NvmlGpuReader.Read(session.Library, unitByPid, now);
        }
        catch (NvmlException e)
        {
            session.Dispose();
            session = null;
            return EnterCpuMode(now, $"NVML stopped answering: {e.Message}");
        }

        LogDeviceFailures(reading);
        return reading.Snapshot;
    }

    private GpuSnapshot EnterCpuMode(DateTimeOffset now, string reason)
    {
        nextInitAttempt = now + options.CpuModeRetryInterval;
        if (reason != loggedCpuModeReason)
        {
            logger.LogWarning(
                "No GPU in use, running in CPU mode: {Reason}. NVML is tried again every {RetryInterval} or on a GPU refresh",
                reason,
                options.CpuModeRetryInterval);
            loggedCpuModeReason = reason;
        }

        return GpuSnapshot.CpuMode(now, reason);
    }

    private async Task<IReadOnlyDictionary<int, string>> ReadUnitPidsAsync(CancellationToken cancellationToken)
    {
        try
        {
            var unitByPid = await unitPids.GetUnitPidsAsync(cancellationToken);
            loggedUnitPidError = null;
            return unitByPid;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException or ArgumentException)
        {
            if (e.Message != loggedUnitPidError)
            {
                logger.LogWarning("Cannot tell which GPU processes are our units': {Error}", e.Message);
                loggedUnitPidError = e.Message;
            }

            return NoUnitPids;
        }
    }

    private void LogDeviceFailures(GpuReading reading)
    {
        foreach (var failure in reading.Failures)
        {
            if (!loggedDeviceFailures.TryGetValue(failure.Index, out var logged) || logged != failure.Error.Message)
            {
                logger.LogWarning("GPU {Index} left out of the GPU snapshot: {Error}", failure.Index, failure.Error.Message);
                loggedDeviceFailures[failure.Index] = failure.Error.Message;
            }
        }

        foreach (var device in reading.Snapshot.Devices)
        {
            if (loggedDeviceFailures.Remove(device.Index))
            {
                logger.LogInformation("GPU {Index} can be read again", device.Index);
            }
        }
    }

    private GpuSnapshot Publish(GpuSnapshot snapshot)
    {
        lock (watchers)
        {
            Volatile.Write(ref current, snapshot);
            foreach (var watcher in watchers)
            {
                watcher.Writer.TryWrite(snapshot);
            }
        }

        return snapshot;
    }

    private async Task CloseSessionAsync()
    {
        await pollGate.WaitAsync(CancellationToken.None);
        try
        {
            session?.Dispose();
            session = null;
        }
        finally
        {
            pollGate.Release();
        }
    }
}
