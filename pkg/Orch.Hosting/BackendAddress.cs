using System.Globalization;
using Orch.Coordination;
using Orch.Coordination.Dapr;
using Orch.Coordination.Redis;

namespace Orch.Hosting;

/// <summary>
/// Backend addresses as users write them: <c>embedded</c> (the default), <c>redis://HOST:PORT</c>
/// (<c>rediss://</c> for TLS; a password as <c>redis://:PASSWORD@HOST</c> or, kept off command lines,
/// in <c>ORCH_REDIS_PASSWORD</c>, with <c>ORCH_REDIS_USER</c> for an ACL user; <c>ORCH_REDIS_CA_FILE</c>
/// names the CA of a server certificate the system does not trust),
/// <c>dapr</c> (the sidecar next to this process, found the way Dapr tells its apps:
/// <c>DAPR_GRPC_ENDPOINT</c>/<c>DAPR_GRPC_PORT</c> and <c>DAPR_HTTP_ENDPOINT</c>/<c>DAPR_HTTP_PORT</c>),
/// or <c>dapr://HOST:GRPC_PORT?http-port=N&amp;pubsub=NAME&amp;state=NAME</c>.
/// </summary>
public static class BackendAddress
{
    public const string Embedded = "embedded";

    private const string Known = "use 'embedded' (the default), 'redis://HOST:PORT' ('rediss://' for TLS), 'dapr' or 'dapr://HOST:GRPC_PORT?http-port=N&pubsub=NAME&state=NAME'";

    public static bool IsEmbedded(string? address) => address is null or "" or Embedded;

    /// <summary>Checks an address; null when fine, else what is wrong with it.</summary>
    public static string? Problem(string? address)
    {
        if (IsEmbedded(address)) return null;
        if (TryRedis(address!, out _, out var redisProblem)) return redisProblem;
        if (address == "dapr" || address!.StartsWith("dapr://", StringComparison.Ordinal))
            return TryDapr(address, out _, out var problem) ? null : $"backend '{address}': {problem}";
        return $"backend '{Display(address)}' is not known: {Known}";
    }

    /// <summary>The address as it may be shown or logged: a password in it is replaced by <c>***</c>.</summary>
    public static string Display(string? address)
    {
        if (address is null || !Uri.TryCreate(address, UriKind.Absolute, out var uri) || uri.UserInfo.Length == 0) return address ?? "";
        var at = address.IndexOf('@', StringComparison.Ordinal);
        var user = Uri.UnescapeDataString(uri.UserInfo.Split(':', 2)[0]);
        return $"{uri.Scheme}://{(user.Length > 0 ? user + ":" : ":")}***@{address[(at + 1)..]}";
    }

    /// <summary>Connects to a remote backend.</summary>
    /// <exception cref="BackendUnavailableException">It cannot be reached; the message names the address.</exception>
    public static async Task<ICoordinationBackend> ConnectAsync(string address)
    {
        if (TryRedis(address, out var options, out var problem))
        {
            if (problem is not null) throw new ArgumentException(problem, nameof(address));
            try
            {
                return await RedisBackend.ConnectAsync(options).ConfigureAwait(false);
            }
            catch (InvalidOperationException ex)
            {
                throw new BackendUnavailableException(ex.Message, ex);
            }
        }
        if (TryDapr(address, out var dapr, out _))
        {
            try
            {
                return await DaprBackend.ConnectAsync(dapr.Grpc, dapr.Http, dapr.PubSub, dapr.State).ConfigureAwait(false);
            }
            catch (InvalidOperationException ex)
            {
                throw new BackendUnavailableException($"{ex.Message}; check that daprd runs next to this process with the '{dapr.PubSub}' pub/sub and '{dapr.State}' state store components", ex);
            }
        }
        throw new ArgumentException(Problem(address), nameof(address));
    }

    /// <summary>True for a redis:// or rediss:// address; <paramref name="problem"/> says what keeps it from being used, if anything.</summary>
    private static bool TryRedis(string address, out StackExchange.Redis.ConfigurationOptions options, out string? problem)
    {
        options = new StackExchange.Redis.ConfigurationOptions();
        problem = null;
        if (!Uri.TryCreate(address, UriKind.Absolute, out var uri) || uri.Scheme is not ("redis" or "rediss") || uri.Host.Length == 0) return false;
        if (uri.AbsolutePath is not ("" or "/") || uri.Query.Length > 0 || uri.Fragment.Length > 0) return false;
        options.EndPoints.Add(uri.Host, uri.Port > 0 ? uri.Port : 6379);
        var userInfo = uri.UserInfo.Split(':', 2);
        var user = Uri.UnescapeDataString(userInfo[0]);
        var password = userInfo.Length > 1 ? Uri.UnescapeDataString(userInfo[1]) : null;
        options.User = user.Length > 0 ? user : Environment.GetEnvironmentVariable("ORCH_REDIS_USER") is { Length: > 0 } u ? u : null;
        options.Password = password ?? (Environment.GetEnvironmentVariable("ORCH_REDIS_PASSWORD") is { Length: > 0 } p ? p : null);
        if (uri.Scheme == "rediss")
        {
            options.Ssl = true;
            options.SslHost = uri.Host;
            // A server certificate from a private CA: trust that CA (the system's CAs are trusted anyway).
            if (Environment.GetEnvironmentVariable("ORCH_REDIS_CA_FILE") is { Length: > 0 } ca)
            {
                try
                {
                    options.TrustIssuer(ca);
                }
                catch (System.Security.Cryptography.CryptographicException)
                {
                    problem = $"ORCH_REDIS_CA_FILE is '{ca}', which is not a readable certificate file (PEM or DER)";
                }
            }
        }
        return true;
    }

    private sealed record DaprSidecar(string Grpc, string Http, string PubSub, string State);

    private static bool TryDapr(string address, out DaprSidecar sidecar, out string problem)
    {
        sidecar = new DaprSidecar("", "", "pubsub", "statestore");
        problem = "";
        if (address == "dapr")
        {
            sidecar = sidecar with
            {
                Grpc = Environment.GetEnvironmentVariable("DAPR_GRPC_ENDPOINT") is { Length: > 0 } grpc ? grpc : $"http://127.0.0.1:{Port("DAPR_GRPC_PORT", 50001)}",
                Http = Environment.GetEnvironmentVariable("DAPR_HTTP_ENDPOINT") is { Length: > 0 } http ? http : $"http://127.0.0.1:{Port("DAPR_HTTP_PORT", 3500)}",
            };
            return true;
        }
        if (!Uri.TryCreate(address, UriKind.Absolute, out var uri) || uri.Scheme != "dapr" || uri.Host.Length == 0 || uri.Port <= 0)
        {
            problem = "expected dapr://HOST:GRPC_PORT, e.g. dapr://127.0.0.1:50001?http-port=3500";
            return false;
        }
        var httpPort = 3500;
        foreach (var pair in uri.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var (name, value) = pair.IndexOf('=', StringComparison.Ordinal) is var eq and > 0 ? (pair[..eq], Uri.UnescapeDataString(pair[(eq + 1)..])) : (pair, "");
            switch (name)
            {
                case "http-port" when int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port is > 0 and < 65536:
                    httpPort = port;
                    break;
                case "pubsub" when value.Length > 0:
                    sidecar = sidecar with { PubSub = value };
                    break;
                case "state" when value.Length > 0:
                    sidecar = sidecar with { State = value };
                    break;
                default:
                    problem = $"'{pair}' is not a setting of a dapr address (http-port=N, pubsub=NAME, state=NAME)";
                    return false;
            }
        }
        sidecar = sidecar with
        {
            Grpc = string.Create(CultureInfo.InvariantCulture, $"http://{uri.Host}:{uri.Port}"),
            Http = string.Create(CultureInfo.InvariantCulture, $"http://{uri.Host}:{httpPort}"),
        };
        return true;
    }

    private static int Port(string variable, int fallback) =>
        int.TryParse(Environment.GetEnvironmentVariable(variable), NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port is > 0 and < 65536 ? port : fallback;
}
