using System.Buffers;
using System.Collections.Concurrent;
using System.Globalization;
using Serilog.Events;

namespace UnifiedLlm.Daemon.Logging;

/// <summary>
/// Turns a Serilog event into journal fields, in this order:
/// <list type="bullet">
/// <item>MESSAGE: the rendered message; with an exception, a newline and the exception's full text follow.</item>
/// <item>PRIORITY (see <see cref="JournalPriority"/>) and SYSLOG_IDENTIFIER.</item>
/// <item>Well-known properties, always included: CodeFunc/CodeFile/CodeLine → CODE_FUNC/CODE_FILE/CODE_LINE,
/// SourceContext → ULLM_SOURCE, Model → ULLM_MODEL, Unit → ULLM_UNIT, RequestId → ULLM_REQUEST_ID.</item>
/// <item>Up to <see cref="JournaldSinkOptions.MaxOtherProperties"/> other properties as ULLM_ + the name in upper
/// snake case (see <see cref="JournalFieldName.FromPropertyName"/>), values cut to
/// <see cref="JournaldSinkOptions.MaxOtherPropertyLength"/> characters.</item>
/// </list>
/// Only scalar, non-null property values are written; structures and sequences are left to the message, and
/// properties whose names cannot be mapped (or would map onto a well-known field) are skipped.
/// </summary>
internal sealed class JournalEventFormatter
{
    public const string OtherPropertyPrefix = "ULLM_";
    private const int MaxCachedNames = 512;
    private const int MaxRetainedMessageChars = 64 * 1024;

    private static readonly (string Property, string Field)[] WellKnown =
    [
        ("CodeFunc", "CODE_FUNC"),
        ("CodeFile", "CODE_FILE"),
        ("CodeLine", "CODE_LINE"),
        ("SourceContext", "ULLM_SOURCE"),
        ("Model", "ULLM_MODEL"),
        ("Unit", "ULLM_UNIT"),
        ("RequestId", "ULLM_REQUEST_ID"),
    ];

    private static readonly HashSet<string> WellKnownProperties = WellKnown.Select(w => w.Property).ToHashSet();
    private static readonly HashSet<string> WellKnownFields = WellKnown.Select(w => w.Field).ToHashSet();

    [ThreadStatic]
    private static StringWriter? t_messageWriter;

    private readonly JournaldSinkOptions _options;
    private readonly IFormatProvider _formatProvider;
    private readonly ConcurrentDictionary<string, string?> _otherFieldNames = new();

    public JournalEventFormatter(JournaldSinkOptions options)
    {
        ArgumentException.ThrowIfNullOrEmpty(options.SyslogIdentifier);
        ArgumentOutOfRangeException.ThrowIfNegative(options.MaxOtherProperties);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.MaxOtherPropertyLength);
        _options = options;
        _formatProvider = options.FormatProvider ?? CultureInfo.InvariantCulture;
    }

    public void Format(LogEvent logEvent, IBufferWriter<byte> output)
    {
        var entry = new JournalEntryEncoder(output);
        AddMessage(entry, logEvent);
        Span<char> priority = [(char)('0' + JournalPriority.FromLevel(logEvent.Level))];
        entry.AddField("PRIORITY", priority);
        entry.AddField("SYSLOG_IDENTIFIER", _options.SyslogIdentifier);

        foreach (var (property, field) in WellKnown)
        {
            if (logEvent.Properties.TryGetValue(property, out var value) && AsText(value) is { } text)
            {
                entry.AddField(field, text);
            }
        }

        AddOtherProperties(entry, logEvent.Properties);
    }

    private void AddMessage(JournalEntryEncoder entry, LogEvent logEvent)
    {
        var writer = t_messageWriter ?? new StringWriter(CultureInfo.InvariantCulture);
        t_messageWriter = null;
        var message = writer.GetStringBuilder();
        message.Clear();
        logEvent.MessageTemplate.Render(logEvent.Properties, writer, _formatProvider);
        if (logEvent.Exception is { } exception)
        {
            message.Append('\n').Append(exception.ToString());
        }

        var chars = ArrayPool<char>.Shared.Rent(message.Length);
        try
        {
            message.CopyTo(0, chars, message.Length);
            entry.AddField("MESSAGE", chars.AsSpan(0, message.Length));
        }
        finally
        {
            ArrayPool<char>.Shared.Return(chars);
        }

        if (message.Capacity <= MaxRetainedMessageChars)
        {
            t_messageWriter = writer;
        }
    }

    private void AddOtherProperties(JournalEntryEncoder entry, IReadOnlyDictionary<string, LogEventPropertyValue> properties)
    {
        var added = 0;
        foreach (var (property, value) in properties)
        {
            if (added == _options.MaxOtherProperties)
            {
                return;
            }

            if (WellKnownProperties.Contains(property) || OtherFieldName(property) is not { } field || AsText(value) is not { } text)
            {
                continue;
            }

            entry.AddField(field, text.AsSpan(0, Math.Min(text.Length, _options.MaxOtherPropertyLength)));
            added++;
        }
    }

    private string? OtherFieldName(string property)
    {
        if (_otherFieldNames.TryGetValue(property, out var cached))
        {
            return cached;
        }

        var field = JournalFieldName.FromPropertyName(property, OtherPropertyPrefix);
        if (field is not null && WellKnownFields.Contains(field))
        {
            field = null;
        }

        if (_otherFieldNames.Count < MaxCachedNames)
        {
            _otherFieldNames.TryAdd(property, field);
        }

        return field;
    }

    private string? AsText(LogEventPropertyValue value) => value switch
    {
        ScalarValue { Value: string text } => text,
        ScalarValue { Value: IFormattable formattable } => formattable.ToString(null, _formatProvider),
        ScalarValue { Value: { } other } => other.ToString(),
        _ => null,
    };
}
