using System.Threading.Channels;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Storage;

namespace UnifiedLlm.Daemon.Gateway;

/// <summary>
/// Audit rows on their way to SQLite, off the request path: a bounded queue written in batches by a background service.
/// A full queue never blocks a request; the row is dropped and counted (<see cref="Dropped"/>, ullm_audit_rows_dropped_total).
/// </summary>
internal sealed class AuditQueue(ConfigHolder config, GatewayMetrics metrics)
{
    private readonly Channel<AuditRow> rows = Channel.CreateBounded<AuditRow>(
        new BoundedChannelOptions(config.Current.Audit.QueueCapacity) { FullMode = BoundedChannelFullMode.Wait, SingleReader = true });

    private long dropped;

    public long Dropped => Interlocked.Read(ref dropped);

    public ChannelReader<AuditRow> Reader => rows.Reader;

    public void Enqueue(AuditRow row)
    {
        if (!rows.Writer.TryWrite(row))
        {
            CountDropped(1);
        }
    }

    public void CountDropped(int count)
    {
        Interlocked.Add(ref dropped, count);
        metrics.AuditRowsDropped(count);
    }

    public void Complete() => rows.Writer.TryComplete();
}
