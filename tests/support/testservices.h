#pragma once

// Real services for tests, on 127.0.0.1 only.
//
// scripts/test.sh starts one PostgreSQL server and one WireMock for the whole
// run and exports SAGA_TEST_PG_URL / SAGA_TEST_WIREMOCK_URL. When a test binary
// runs on its own (no variables), these functions start the service themselves
// (initdb + pg_ctl as the postgres user in a temp dir; java -jar wiremock) and
// stop it by PID when the process exits. Nothing is skipped: if a service cannot
// be started the functions return an empty value and set *error, and the test
// must QFAIL with that message.

#include <QString>
#include <QUrl>

class QProcess;

namespace TestServices {

// URL of a new, empty database (unique name) on the test PostgreSQL server:
// "postgresql://postgres@127.0.0.1:PORT/t_xxxxxxxx".
QString newPostgresDatabase(QString *error);
// Runs one SQL statement as superuser on the maintenance database (e.g.
// pg_terminate_backend). Returns false and sets *error on failure.
bool postgresAdmin(const QString &sql, QString *error);
// Base URL of the running WireMock ("http://127.0.0.1:PORT"), mappings from
// resources/wiremock loaded. Call resetWireMock() between tests.
QUrl wiremockUrl(QString *error);
bool resetWireMock(QString *error); // clears the request journal and scenario state
// wiremockUrl() then resetWireMock(): the URL of a WireMock with an empty journal,
// or an empty URL and *error saying which of the two failed.
QUrl freshWireMock(QString *error);
// A fresh temp directory path that lives until process exit.
QString tempDir();
// Makes a file or folder one this process may not write (writable false), or
// writable again: its mode for a normal user; for root, whom modes do not stop,
// its immutable attribute (chattr +i / -i). Checked with access(W_OK) afterwards;
// false with *error when it did not take.
bool setWritable(const QString &path, bool writable, QString *error);
// Makes the program `process` starts next end (SIGKILL) when this test process
// ends, however it ends: a test that crashed or was killed by ctest's timeout
// left its saga-server, console or WireMock running (seen after a sanitizer
// report). Call before start(); from the thread that stays (Linux sends the
// signal when the starting thread ends).
void endsWithThisTest(QProcess &process);
// Absolute path of the project source dir (for resources).
QString sourceDir();
// Path of a built program (saga-server, saga-console) in the build tree.
QString programPath(const QString &name);
// For a _data() function: a quint32 column "seed" with one row per seed, first..last
// (rows named "seed N"), for tests that draw from a QRandomGenerator seeded with it.
void addSeedRows(quint32 first, quint32 last);

// A folder on a small filesystem of its own, for a disk that fills up: a tmpfs of
// `bytes` mounted (mount(2)) on a fresh temp dir. Mounting needs root, which the
// test command runs as; without it isMounted() is false and error() says why (the
// test must QFAIL). resize() gives it more room, as someone freeing space would
// (or less, down to what is in use). Unmounted when destroyed, lazily: a file
// still open keeps the filesystem until it is closed.
class SmallDisk
{
public:
    explicit SmallDisk(qint64 bytes);
    ~SmallDisk();
    SmallDisk(const SmallDisk &) = delete;
    SmallDisk &operator=(const SmallDisk &) = delete;

    bool isMounted() const { return m_mounted; }
    QString error() const { return m_error; }
    QString path() const { return m_path; }
    bool resize(qint64 bytes, QString *error);
    qint64 freeBytes() const; // -1 when unknown

private:
    QString m_path;
    QString m_error;
    bool m_mounted = false;
};

} // namespace TestServices
