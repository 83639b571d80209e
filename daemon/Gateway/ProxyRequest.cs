using System.Text.Json;
using UnifiedLlm.Daemon.Serialization;

namespace UnifiedLlm.Daemon.Gateway;

/// <summary>
/// A validated OpenAI request: the client's body as it came, the model asked for, whether (and how) it streams, and the
/// length of its prompt for estimating tokens.
/// </summary>
internal sealed class ProxyRequest
{
    private static readonly byte[] UsageOption = "\"include_usage\":true"u8.ToArray();
    private static readonly byte[] UsageOptionBeforeOthers = "\"include_usage\":true,"u8.ToArray();
    private static readonly byte[] True = "true"u8.ToArray();
    private static readonly byte[] UsageOptions = "{\"include_usage\":true}"u8.ToArray();
    private static readonly byte[] UsageOptionsField = ",\"stream_options\":{\"include_usage\":true}"u8.ToArray();

    private readonly byte[] _body;
    private readonly OpenAiBodyScan _scan;

    private ProxyRequest(EndpointKind kind, byte[] body, OpenAiBodyScan scan, string model, bool stream, bool includeUsage)
    {
        Kind = kind;
        _body = body;
        _scan = scan;
        Model = model;
        Stream = stream;
        IncludeUsage = includeUsage;
    }

    public EndpointKind Kind { get; }

    /// <summary>The client's body as it came (the response cache keys it).</summary>
    public ReadOnlyMemory<byte> Body => _body;

    public string Model { get; }

    public bool Stream { get; }

    public bool IncludeUsage { get; }

    /// <summary>In another API than OpenAI's (<see cref="NativeOnly"/>): only a target that speaks it serves it, and the cache does not.</summary>
    public bool IsNativeOnly { get; private init; }

    /// <summary>The JSON length of the messages, prompt, input, or a rerank's query and documents: about four per token.</summary>
    public int PromptLength
    {
        get
        {
            if (Kind == EndpointKind.Rerank)
            {
                return _scan.Query.Length + _scan.Documents.Length;
            }

            var prompt = !_scan.Messages.IsMissing ? _scan.Messages : !_scan.Prompt.IsMissing ? _scan.Prompt : _scan.Input;
            return prompt.IsMissing ? 0 : prompt.Length;
        }
    }

    /// <summary>Validates the fields the gateway relies on, naming the first one that is wrong.</summary>
    public static ProxyRequest From(EndpointKind kind, byte[] body)
    {
        var scan = OpenAiBodyScan.Read(body);
        if (scan.ModelValue.IsMissing)
        {
            throw GatewayException.BadField("model", "is required");
        }

        var model = scan.Model is { Length: > 0 } m ? m : throw GatewayException.BadField("model", "must be a non-empty string");
        if (kind == EndpointKind.Rerank)
        {
            return Rerank(body, scan, model);
        }

        var (field, value, required) = kind switch
        {
            EndpointKind.ChatCompletions => ("messages", scan.Messages, "a non-empty array of messages"),
            EndpointKind.Completions => ("prompt", scan.Prompt, "a string or an array"),
            _ => ("input", scan.Input, "a string or an array"),
        };
        var valid = kind == EndpointKind.ChatCompletions
            ? value.Token == JsonTokenType.StartArray && scan.MessageCount > 0 && scan.MessagesHaveRoles
            : value.Token is JsonTokenType.StartArray or JsonTokenType.String;
        if (!valid)
        {
            throw value.IsMissing ? GatewayException.BadField(field, "is required") : GatewayException.BadField(field, $"must be {required}");
        }

        var stream = scan.StreamValue.Token switch
        {
            JsonTokenType.None or JsonTokenType.Null or JsonTokenType.False => false,
            JsonTokenType.True => true,
            _ => throw GatewayException.BadField("stream", "must be true or false"),
        };
        if (stream && kind == EndpointKind.Embeddings)
        {
            throw GatewayException.BadField("stream", "embeddings do not stream");
        }

        var includeUsage = scan.StreamOptions.Token switch
        {
            JsonTokenType.None or JsonTokenType.Null => false,
            JsonTokenType.StartObject => scan.IncludeUsage.Token switch
            {
                JsonTokenType.None or JsonTokenType.Null or JsonTokenType.False => false,
                JsonTokenType.True => true,
                _ => throw GatewayException.BadField("stream_options.include_usage", "must be true or false"),
            },
            _ => throw GatewayException.BadField("stream_options", "must be an object"),
        };
        return new ProxyRequest(kind, body, scan, model, stream, includeUsage);
    }

    /// <summary>
    /// A request in the client's own API that only a target speaking that API can serve (a Responses request ullmd cannot
    /// translate); its model and stream flag were checked by that API's parser.
    /// </summary>
    public static ProxyRequest NativeOnly(EndpointKind kind, byte[] body)
    {
        var scan = OpenAiBodyScan.Read(body);
        return new ProxyRequest(kind, body, scan, scan.Model ?? throw GatewayException.BadField("model", "is required"), scan.StreamTrue, includeUsage: false) { IsNativeOnly = true };
    }

    /// <summary>A rerank: a string query and a non-empty array of documents, answered whole (it does not stream).</summary>
    private static ProxyRequest Rerank(byte[] body, OpenAiBodyScan scan, string model)
    {
        if (scan.Query.Token != JsonTokenType.String)
        {
            throw scan.Query.IsMissing ? GatewayException.BadField("query", "is required") : GatewayException.BadField("query", "must be a string");
        }

        if (scan.Documents.Token != JsonTokenType.StartArray || body.AsSpan(scan.Documents.Start + 1, scan.Documents.Length - 2).Trim(" \t\r\n"u8).IsEmpty)
        {
            throw scan.Documents.IsMissing ? GatewayException.BadField("documents", "is required") : GatewayException.BadField("documents", "must be a non-empty array");
        }

        if (scan.StreamTrue)
        {
            throw GatewayException.BadField("stream", "a rerank does not stream");
        }

        return new ProxyRequest(EndpointKind.Rerank, body, scan, model, stream: false, includeUsage: false);
    }

    /// <summary>
    /// The body for one upstream: the client's bytes with the upstream's model name, and usage asked for in streams so
    /// tokens can be counted (the client's other stream options kept).
    /// </summary>
    public byte[] ForUpstream(string upstreamModel)
    {
        var model = NodeJson.Utf8(upstreamModel);
        (int Start, int End, byte[] With) modelEdit = (_scan.ModelValue.Start, _scan.ModelValue.End, model);
        if (!Stream)
        {
            return Splice(modelEdit);
        }

        var usageEdit = UsageEdit();
        return modelEdit.Start < usageEdit.Start ? Splice(modelEdit, usageEdit) : Splice(usageEdit, modelEdit);
    }

    /// <summary>include_usage set to true: the field added, or the stream options, or their include_usage value.</summary>
    private (int Start, int End, byte[] With) UsageEdit()
    {
        var options = _scan.StreamOptions;
        if (options.Token == JsonTokenType.None)
        {
            return (_scan.ObjectEnd, _scan.ObjectEnd, UsageOptionsField);
        }

        if (options.Token == JsonTokenType.Null)
        {
            return (options.Start, options.End, UsageOptions);
        }

        if (_scan.IncludeUsage.Token != JsonTokenType.None)
        {
            return (_scan.IncludeUsage.Start, _scan.IncludeUsage.End, True);
        }

        var inside = options.Start + 1;
        return (inside, inside, _scan.StreamOptionsEmpty ? UsageOption : UsageOptionBeforeOthers);
    }

    /// <summary>The body with each range replaced, the ranges given in order.</summary>
    private byte[] Splice(params ReadOnlySpan<(int Start, int End, byte[] With)> edits)
    {
        var length = _body.Length;
        foreach (var edit in edits)
        {
            length += edit.With.Length - (edit.End - edit.Start);
        }

        var result = new byte[length];
        var from = 0;
        var to = 0;
        foreach (var (start, end, with) in edits)
        {
            _body.AsSpan(from, start - from).CopyTo(result.AsSpan(to));
            to += start - from;
            with.CopyTo(result.AsSpan(to));
            to += with.Length;
            from = end;
        }

        _body.AsSpan(from).CopyTo(result.AsSpan(to));
        return result;
    }
}
