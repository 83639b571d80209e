using System.Text.Json;

namespace UnifiedLlm.Daemon.Gateway;

/// <summary>Where one top-level value lies in the body, and its first token; <see cref="JsonTokenType.None"/> when absent.</summary>
internal readonly record struct JsonSpan(JsonTokenType Token, int Start, int End)
{
    /// <summary>Absent or JSON null, which OpenAI's API treats alike.</summary>
    public bool IsMissing => Token is JsonTokenType.None or JsonTokenType.Null;

    public int Length => End - Start;
}

/// <summary>
/// What the gateway reads of an OpenAI request, found in one pass over its bytes (which also checks that they are valid
/// JSON), with where each value lies so the upstream body can be the client's bytes with only the model changed.
/// </summary>
internal sealed class OpenAiBodyScan
{
    public string? Model { get; private set; }

    public JsonSpan ModelValue { get; private set; }

    public JsonSpan StreamValue { get; private set; }

    public JsonSpan StreamOptions { get; private set; }

    /// <summary>The stream options' include_usage value; searched for only when <see cref="StreamOptions"/> is an object.</summary>
    public JsonSpan IncludeUsage { get; private set; }

    public bool StreamOptionsEmpty { get; private set; } = true;

    public JsonSpan Messages { get; private set; }

    /// <summary>Whether every message is an object with a role; meaningful only when <see cref="Messages"/> is an array.</summary>
    public bool MessagesHaveRoles { get; private set; }

    public int MessageCount { get; private set; }

    public JsonSpan Prompt { get; private set; }

    public JsonSpan Input { get; private set; }

    /// <summary>A rerank request's query.</summary>
    public JsonSpan Query { get; private set; }

    /// <summary>A rerank request's documents.</summary>
    public JsonSpan Documents { get; private set; }

    /// <summary>Where the body's closing brace is, for fields added at the end.</summary>
    public int ObjectEnd { get; private set; }

    public bool StreamTrue => StreamValue.Token == JsonTokenType.True;

    public static OpenAiBodyScan Read(ReadOnlySpan<byte> json)
    {
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = RequestBody.MaxDepth });
        var scan = new OpenAiBodyScan();
        try
        {
            reader.Read();
            if (reader.TokenType != JsonTokenType.StartObject)
            {
                reader.Skip();
                reader.Read();
                throw RequestBody.NotAnObject();
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                scan.ReadProperty(ref reader);
            }

            scan.ObjectEnd = (int)reader.TokenStartIndex;
            // Anything but whitespace after the object is an error the reader raises here.
            reader.Read();
        }
        catch (JsonException e)
        {
            throw RequestBody.InvalidJson(e);
        }
        catch (InvalidOperationException)
        {
            // Comparing a property name unescapes it, and "\ud83d]" is not a whole character (found by the fuzzer).
            throw RequestBody.BadName();
        }

        return scan;
    }

    private static string ModelName(ref Utf8JsonReader reader)
    {
        try
        {
            return reader.GetString()!;
        }
        catch (InvalidOperationException)
        {
            // The bytes are valid UTF-8 (RequestBody checked); an escape such as "\ud800" is not a whole character.
            throw GatewayException.BadField("model", "is not valid Unicode (an unpaired surrogate escape)");
        }
    }

    private void ReadProperty(ref Utf8JsonReader reader)
    {
        var name = reader.ValueSpan;
        try
        {
            ReadValueOf(ref reader);
        }
        catch (UnpairedSurrogateException)
        {
            throw GatewayException.BadField(System.Text.Encoding.UTF8.GetString(name), "holds a string that is not valid Unicode (an unpaired surrogate escape such as \\ud800)");
        }
    }

    private void ReadValueOf(ref Utf8JsonReader reader)
    {
        if (reader.ValueTextEquals("model"u8))
        {
            reader.Read();
            Model = reader.TokenType == JsonTokenType.String ? ModelName(ref reader) : null;
            ModelValue = SkipValue(ref reader);
        }
        else if (reader.ValueTextEquals("stream"u8))
        {
            reader.Read();
            StreamValue = SkipValue(ref reader);
        }
        else if (reader.ValueTextEquals("stream_options"u8))
        {
            reader.Read();
            StreamOptions = reader.TokenType == JsonTokenType.StartObject ? ReadStreamOptions(ref reader) : SkipValue(ref reader);
        }
        else if (reader.ValueTextEquals("messages"u8))
        {
            reader.Read();
            Messages = reader.TokenType == JsonTokenType.StartArray ? ReadMessages(ref reader) : SkipValue(ref reader);
        }
        else if (reader.ValueTextEquals("prompt"u8))
        {
            reader.Read();
            Prompt = SkipValue(ref reader);
        }
        else if (reader.ValueTextEquals("input"u8))
        {
            reader.Read();
            Input = SkipValue(ref reader);
        }
        else if (reader.ValueTextEquals("query"u8))
        {
            reader.Read();
            Query = SkipValue(ref reader);
        }
        else if (reader.ValueTextEquals("documents"u8))
        {
            reader.Read();
            Documents = SkipValue(ref reader);
        }
        else
        {
            SkipText(ref reader);
        }
    }

    private JsonSpan ReadStreamOptions(ref Utf8JsonReader reader)
    {
        var start = (int)reader.TokenStartIndex;
        IncludeUsage = default;
        StreamOptionsEmpty = true;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            StreamOptionsEmpty = false;
            var isIncludeUsage = reader.ValueTextEquals("include_usage"u8);
            reader.Read();
            var value = SkipValue(ref reader);
            if (isIncludeUsage)
            {
                IncludeUsage = value;
            }
        }

        return new JsonSpan(JsonTokenType.StartObject, start, (int)reader.BytesConsumed);
    }

    private JsonSpan ReadMessages(ref Utf8JsonReader reader)
    {
        var start = (int)reader.TokenStartIndex;
        var count = 0;
        var haveRoles = true;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            count++;
            if (reader.TokenType != JsonTokenType.StartObject)
            {
                SkipText(ref reader);
                haveRoles = false;
                continue;
            }

            var hasRole = false;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var isRole = reader.ValueTextEquals("role"u8);
                reader.Read();
                if (isRole)
                {
                    hasRole = reader.TokenType is JsonTokenType.String or JsonTokenType.Number or JsonTokenType.True or JsonTokenType.False;
                }

                SkipText(ref reader);
            }

            haveRoles &= hasRole;
        }

        MessageCount = count;
        MessagesHaveRoles = haveRoles;
        return new JsonSpan(JsonTokenType.StartArray, start, (int)reader.BytesConsumed);
    }

    /// <summary>The span of the value the reader is on, leaving the reader at its last token.</summary>
    private static JsonSpan SkipValue(ref Utf8JsonReader reader)
    {
        var token = reader.TokenType;
        var start = (int)reader.TokenStartIndex;
        SkipText(ref reader);
        return new JsonSpan(token, start, (int)reader.BytesConsumed);
    }

    /// <summary>
    /// Skips the value the reader is on (a property name first when on one), checking that its strings are text: an
    /// unpaired surrogate escape such as "\ud800" is valid JSON, but backends fail on it with a 500 (found by the fuzzer).
    /// </summary>
    private static void SkipText(ref Utf8JsonReader reader)
    {
        if (reader.TokenType == JsonTokenType.PropertyName)
        {
            reader.Read();
        }

        CheckText(ref reader);
        if (reader.TokenType is not (JsonTokenType.StartObject or JsonTokenType.StartArray))
        {
            return;
        }

        var depth = reader.CurrentDepth;
        while (reader.Read() && reader.CurrentDepth > depth)
        {
            CheckText(ref reader);
        }
    }

    private static void CheckText(ref Utf8JsonReader reader)
    {
        if (reader.TokenType is JsonTokenType.String or JsonTokenType.PropertyName && reader.ValueIsEscaped && JsonEscapes.HasUnpairedSurrogate(reader.ValueSpan))
        {
            throw new UnpairedSurrogateException();
        }
    }

    /// <summary>Unwinds a scan to the top-level property whose value holds the bad string, which names it.</summary>
    private sealed class UnpairedSurrogateException : Exception;
}
