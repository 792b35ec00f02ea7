package io.instella.hub;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Proxy;
import java.net.ProxySelector;
import java.net.SocketAddress;
import java.net.URI;
import java.util.List;
import java.util.Locale;

/**
 * Proxies from HTTPS_PROXY / HTTP_PROXY / NO_PROXY (either case), as Python's requests honours them; loopback is never
 * proxied. Falls back to the JVM's default selector (http.proxyHost etc.) when no variable is set.
 */
final class EnvProxySelector extends ProxySelector {

    private final Proxy httpsProxy;
    private final Proxy httpProxy;
    private final List<String> noProxy;
    private final ProxySelector fallback;

    private EnvProxySelector(Proxy httpsProxy, Proxy httpProxy, List<String> noProxy, ProxySelector fallback) {
        this.httpsProxy = httpsProxy;
        this.httpProxy = httpProxy;
        this.noProxy = noProxy;
        this.fallback = fallback;
    }

    static ProxySelector from(HubEnvironment env) {
        Proxy https = proxy(first(env, "HTTPS_PROXY", "https_proxy"));
        Proxy http = proxy(first(env, "HTTP_PROXY", "http_proxy"));
        String noProxy = first(env, "NO_PROXY", "no_proxy");
        List<String> hosts = noProxy == null ? List.of()
                : List.of(noProxy.toLowerCase(Locale.ROOT).split("\\s*,\\s*"));
        return new EnvProxySelector(https, http, hosts, ProxySelector.getDefault());
    }

    @Override
    public List<Proxy> select(URI uri) {
        String host = uri.getHost() == null ? "" : uri.getHost().toLowerCase(Locale.ROOT);
        if (host.equals("localhost") || host.startsWith("127.") || host.equals("::1") || host.equals("[::1]")
                || bypassed(host)) {
            return List.of(Proxy.NO_PROXY);
        }
        Proxy chosen = "https".equalsIgnoreCase(uri.getScheme()) ? httpsProxy : httpProxy;
        if (chosen != null) {
            return List.of(chosen);
        }
        return fallback != null ? fallback.select(uri) : List.of(Proxy.NO_PROXY);
    }

    @Override
    public void connectFailed(URI uri, SocketAddress sa, IOException ioe) {
        if (fallback != null) {
            fallback.connectFailed(uri, sa, ioe);
        }
    }

    private boolean bypassed(String host) {
        for (String entry : noProxy) {
            if (entry.isEmpty()) {
                continue;
            }
            if (entry.equals("*")) {
                return true;
            }
            String suffix = entry.startsWith(".") ? entry.substring(1) : entry;
            if (host.equals(suffix) || host.endsWith("." + suffix)) {
                return true;
            }
        }
        return false;
    }

    private static String first(HubEnvironment env, String upper, String lower) {
        String value = env.get(upper);
        return value != null ? value : env.get(lower);
    }

    private static Proxy proxy(String spec) {
        if (spec == null) {
            return null;
        }
        URI uri = URI.create(spec.contains("://") ? spec : "http://" + spec);
        if (uri.getHost() == null) {
            throw new IllegalArgumentException("Cannot understand the proxy setting '" + spec
                    + "': expected http://host:port.");
        }
        int port = uri.getPort() >= 0 ? uri.getPort() : ("https".equalsIgnoreCase(uri.getScheme()) ? 443 : 80);
        return new Proxy(Proxy.Type.HTTP, InetSocketAddress.createUnresolved(uri.getHost(), port));
    }
}
