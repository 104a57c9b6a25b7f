#pragma once

// Which source to open, as chosen on the command line, in the connection dialog
// or remembered in the settings. create() builds the matching ProgressSource.

#include "databaseurl.h"

#include <QString>
#include <QUrl>
#include <optional>

class ProgressSource;
class QObject;

struct SourceSpec {
    enum class Kind { Embedded, Remote, Database };
    Kind kind = Kind::Embedded;
    DatabaseUrl embeddedDatabase = DatabaseUrl::defaultSqlite(); // Embedded
    int stepDelayMs = 900;  // Embedded: visible latency of the simulated steps
    QUrl serverUrl;         // Remote
    QString token;          // Remote (never stored in the settings)
    QString databaseUrl;    // Database: postgresql://... (or sqlite:PATH, polled)

    // Checks the fields; on error returns a sentence saying what to fix.
    QString validate() const;
    // What a user typed as saga-server's address: "HOST:PORT" means http://HOST:PORT;
    // anything else is read strictly (no guessing: a port out of range stays invalid).
    static QUrl serverUrlFromText(const QString &text);
    // A new, not yet started source; nullptr with *error when the spec is invalid.
    ProgressSource *create(QObject *parent, QString *error) const;

    static QString kindKey(Kind kind); // "embedded", "remote", "database"
    static std::optional<Kind> kindFromKey(const QString &key);
};
