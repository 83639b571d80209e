using UnifiedLlm.Daemon.Storage;
using UnifiedLlm.Tests.Support;

namespace UnifiedLlm.Tests.Storage;

/// <summary>The persisted response cache in a real SQLite file: load order, pruning of expired rows, deletes and clears.</summary>
public sealed class ResponseCacheStoreTests : IDisposable
{
    private static readonly DateTimeOffset Now = new(2026, 12, 6, 12, 0, 0, TimeSpan.Zero);
    private readonly TempDirectory dir = new();

    public void Dispose() => dir.Dispose();

    [Fact]
    public async Task Loading_prunes_expired_rows_and_returns_the_owners_live_rows_oldest_first()
    {
        var ct = TestContext.Current.CancellationToken;
        var store = new ResponseCacheStore(await Database.OpenAsync(dir.File("ullm.db"), ct));
        CacheRow Row(string owner, string key, int storedMinutesAgo, int expiresInMinutes) =>
            new(owner, key, "chat", [1, 2, 3], 5, 2, Now.AddMinutes(-storedMinutesAgo), Now.AddMinutes(expiresInMinutes));
        await store.PutAsync(Row("tiny", "newer", 1, 10), ct);
        await store.PutAsync(Row("tiny", "older", 5, 10), ct);
        await store.PutAsync(Row("tiny", "expired", 20, -1), ct);
        await store.PutAsync(Row("other", "expired-too", 20, 0), ct);
        await store.PutAsync(Row("other", "live", 1, 10), ct);

        var tiny = await store.LoadAsync("tiny", Now, ct);
        var other = await store.LoadAsync("other", Now, ct);

        Assert.Equal(["older", "newer"], tiny.Select(r => r.Key));
        Assert.Equal(new byte[] { 1, 2, 3 }, tiny[0].Body);
        Assert.Equal((5, 2, Now.AddMinutes(-5)), (tiny[0].PromptTokens, tiny[0].CompletionTokens, tiny[0].StoredAt));
        Assert.Equal(["live"], other.Select(r => r.Key));
        Assert.Equal(0, await store.PruneExpiredAsync(Now, ct));

        await store.DeleteAsync("tiny", ["older"], ct);
        Assert.Equal(["newer"], (await store.LoadAsync("tiny", Now, ct)).Select(r => r.Key));
        Assert.Equal(1, await store.ClearAsync("other", ct));
        Assert.Equal(1, await store.ClearAsync(null, ct));
        Assert.Empty(await store.LoadAsync("tiny", Now, ct));
    }
}
