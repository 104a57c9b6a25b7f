#pragma once

#include "principal.h"

#include <QByteArray>
#include <QHash>
#include <QString>
#include <QStringList>
#include <optional>

// Verifies and mints HS256 bearer tokens with libjwt (ARCHITECTURE.md,
// "Authorization"). The algorithm is pinned: a token whose header names any
// other algorithm (including "none") is rejected before libjwt sees it, and
// libjwt's verdict is checked again afterwards. `exp` is required, `exp` and
// `nbf` are NumericDates (any JSON number, fractional seconds included) checked
// with a leeway of at most 60 s, `sub` must be a UUID.
//
// Verified tokens are cached by their exact text until they expire, so a
// repeated token costs one hash lookup. Not thread-safe: use from one thread.
class JwtVerifier
{
public:
    static constexpr qint64 kMaxLeewaySeconds = 60;
    static constexpr int kMaxCacheEntries = 20000;
    static constexpr int kMaxTokenBytes = 8192;
    // RFC 7518 §3.2: an HS256 key must have at least 256 bits; shorter keys are
    // accepted (a demo's "secret") with a warning, as they can be guessed offline.
    static constexpr int kMinKeyBytes = 32;

    struct Result {
        std::optional<Principal> principal;
        QString error; // why the token was rejected (for logs and the 401 message)
    };

    // `key` is the HMAC key (already trimmed); it must not be empty.
    explicit JwtVerifier(QByteArray key, qint64 leewaySeconds = 30);

    Result verify(const QByteArray &token, qint64 nowSeconds);
    Result verify(const QByteArray &token);

    // Mints a token: sub, iat, nbf, exp = now + ttl, roles.
    static QByteArray mint(const QByteArray &key, const QUuid &subject, const QStringList &roles,
                           qint64 ttlSeconds, qint64 nowSeconds);

    // Reads a secret file: its content with trailing whitespace removed. Empty
    // (with *error set) when it cannot be read or holds nothing.
    static QByteArray readKeyFile(const QString &path, QString *error);

    int cacheSize() const { return int(m_cache.size()); }
    qint64 leewaySeconds() const { return m_leeway; }

private:
    Result verifyUncached(const QByteArray &token, qint64 nowSeconds) const;

    QByteArray m_key;
    qint64 m_leeway;
    QHash<QByteArray, Principal> m_cache;
};
