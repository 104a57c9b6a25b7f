#include "testservices.h"

#include <QCoreApplication>
#include <QDir>
#include <QElapsedTimer>
#include <QEventLoop>
#include <QFile>
#include <QMutex>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QProcess>
#include <QTest>
#include <QRandomGenerator>
#include <QRegularExpression>
#include <QTcpServer>
#include <QTemporaryDir>
#include <QThread>
#include <QTimer>

#include <csignal>
#include <cstdlib>
#include <cerrno>
#include <cstring>
#include <memory>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <unistd.h>

namespace {

QMutex g_mutex;

QString env(const char *name) { return qEnvironmentVariable(name); }

int freeLoopbackPort()
{
    QTcpServer probe;
    if (!probe.listen(QHostAddress::LocalHost, 0))
        return 0;
    return probe.serverPort();
}

// Runs a program to completion; returns its exit code, or -1 if it did not start
// or finish within timeoutMs. Output (stdout+stderr) goes to *output.
int run(const QString &program, const QStringList &args, QString *output, int timeoutMs = 120000)
{
    QProcess p;
    p.setProcessChannelMode(QProcess::MergedChannels);
    p.start(program, args);
    if (!p.waitForStarted(10000)) {
        if (output)
            *output = QStringLiteral("cannot start %1: %2").arg(program, p.errorString());
        return -1;
    }
    const bool finished = p.waitForFinished(timeoutMs);
    if (output)
        *output = QString::fromLocal8Bit(p.readAll());
    if (!finished) {
        p.kill();
        p.waitForFinished(2000);
        return -1;
    }
    return p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
}

QString pgBinDir()
{
    const QString fromEnv = env("SAGA_PG_BINDIR");
    if (!fromEnv.isEmpty())
        return fromEnv;
    const QStringList versions = QDir(QStringLiteral("/usr/lib/postgresql"))
                                     .entryList(QDir::Dirs | QDir::NoDotAndDotDot, QDir::Name);
    if (versions.isEmpty())
        return {};
    return QStringLiteral("/usr/lib/postgresql/%1/bin").arg(versions.last());
}

// Wraps a command so it runs as the postgres user when we are root (initdb and
// postgres refuse to run as root).
QStringList asPostgres(const QString &program, const QStringList &args, QString *runner)
{
    if (::geteuid() == 0) {
        *runner = QStringLiteral("runuser");
        return QStringList{QStringLiteral("-u"), QStringLiteral("postgres"), QStringLiteral("--"),
                           program}
               + args;
    }
    *runner = program;
    return args;
}

// A PostgreSQL server this process started; stopped (by PID) at exit.
struct OwnPostgres {
    QString dataDir;
    int port = 0;
    qint64 pid = 0;
    ~OwnPostgres()
    {
        if (pid > 0) {
            ::kill(pid_t(pid), SIGQUIT); // immediate shutdown
            for (int i = 0; i < 100 && ::kill(pid_t(pid), 0) == 0; ++i)
                QThread::msleep(50);
        }
        if (!dataDir.isEmpty())
            QDir(dataDir).removeRecursively();
    }
};

struct OwnWireMock {
    std::unique_ptr<QProcess> process;
    ~OwnWireMock()
    {
        if (process && process->state() != QProcess::NotRunning) {
            process->kill(); // by PID, the java process itself (no npx wrapper)
            process->waitForFinished(5000);
        }
    }
};

std::unique_ptr<OwnPostgres> g_postgres;
std::unique_ptr<OwnWireMock> g_wiremock;
std::unique_ptr<QTemporaryDir> g_tempRoot;
QString g_pgBase;   // postgresql://postgres@127.0.0.1:PORT
QUrl g_wiremockUrl;

void stopAll()
{
    g_wiremock.reset();
    g_postgres.reset();
    g_tempRoot.reset();
}

void registerCleanup()
{
    static bool registered = false;
    if (!registered) {
        registered = true;
        std::atexit(stopAll);
    }
}

QString startOwnPostgres(QString *error)
{
    const QString bin = pgBinDir();
    if (bin.isEmpty() || !QFile::exists(bin + QStringLiteral("/initdb"))) {
        *error = QStringLiteral("PostgreSQL server binaries not found under /usr/lib/postgresql "
                                "(install the postgresql package or run scripts/test.sh)");
        return {};
    }
    auto pg = std::make_unique<OwnPostgres>();
    pg->dataDir = QStringLiteral("/tmp/saga-test-pg-%1-%2")
                      .arg(QCoreApplication::applicationPid())
                      .arg(QRandomGenerator::global()->generate(), 8, 16, QLatin1Char('0'));
    QDir().mkpath(pg->dataDir);
    if (::geteuid() == 0) {
        QString out;
        run(QStringLiteral("chown"), {QStringLiteral("postgres:postgres"), pg->dataDir}, &out);
    }
    QString runner, out;
    QStringList args = asPostgres(bin + QStringLiteral("/initdb"),
                                  {QStringLiteral("-D"), pg->dataDir + QStringLiteral("/data"),
                                   QStringLiteral("-U"), QStringLiteral("postgres"),
                                   QStringLiteral("--auth=trust"), QStringLiteral("-E"),
                                   QStringLiteral("UTF8"), QStringLiteral("--no-sync")},
                                  &runner);
    if (run(runner, args, &out) != 0) {
        *error = QStringLiteral("initdb failed: ") + out;
        return {};
    }
    pg->port = freeLoopbackPort();
    const QString opts = QStringLiteral("-p %1 -k %2 -c listen_addresses=127.0.0.1 -c fsync=off "
                                        "-c max_connections=300")
                             .arg(pg->port)
                             .arg(pg->dataDir);
    args = asPostgres(bin + QStringLiteral("/pg_ctl"),
                      {QStringLiteral("-D"), pg->dataDir + QStringLiteral("/data"),
                       QStringLiteral("-l"), pg->dataDir + QStringLiteral("/server.log"),
                       QStringLiteral("-o"), opts, QStringLiteral("-w"), QStringLiteral("start")},
                      &runner);
    if (run(runner, args, &out) != 0) {
        *error = QStringLiteral("pg_ctl start failed: ") + out;
        return {};
    }
    QFile pidFile(pg->dataDir + QStringLiteral("/data/postmaster.pid"));
    if (pidFile.open(QIODevice::ReadOnly))
        pg->pid = QString::fromLatin1(pidFile.readLine()).trimmed().toLongLong();
    const QString base = QStringLiteral("postgresql://postgres@127.0.0.1:%1").arg(pg->port);
    g_postgres = std::move(pg);
    registerCleanup();
    return base;
}

QString postgresBase(QString *error)
{
    if (!g_pgBase.isEmpty())
        return g_pgBase;
    QString fromEnv = env("SAGA_TEST_PG_URL");
    if (!fromEnv.isEmpty()) {
        // Strip a trailing "/db" so we can append our own database names.
        const int slash = fromEnv.indexOf(QLatin1Char('/'), fromEnv.indexOf(QLatin1String("//")) + 2);
        g_pgBase = slash > 0 ? fromEnv.left(slash) : fromEnv;
    } else {
        g_pgBase = startOwnPostgres(error);
    }
    return g_pgBase;
}

bool psql(const QString &base, const QString &sql, QString *error)
{
    const QUrl url(base + QStringLiteral("/postgres"));
    const QString client = QFile::exists(pgBinDir() + QStringLiteral("/psql"))
                               ? pgBinDir() + QStringLiteral("/psql")
                               : QStringLiteral("psql");
    QString out;
    const int rc = run(client,
                       {QStringLiteral("-h"), url.host(), QStringLiteral("-p"),
                        QString::number(url.port(5432)), QStringLiteral("-U"),
                        url.userName().isEmpty() ? QStringLiteral("postgres") : url.userName(),
                        QStringLiteral("-d"), QStringLiteral("postgres"), QStringLiteral("-v"),
                        QStringLiteral("ON_ERROR_STOP=1"), QStringLiteral("-qAtc"), sql},
                       &out, 60000);
    if (rc != 0) {
        if (error)
            *error = QStringLiteral("psql failed (%1): %2").arg(rc).arg(out);
        return false;
    }
    return true;
}

QString wiremockJar()
{
    const QString fromEnv = env("SAGA_WIREMOCK_JAR");
    if (!fromEnv.isEmpty())
        return fromEnv;
    const QStringList roots{TestServices::sourceDir() + QStringLiteral("/.deps/node_modules"),
                            QStringLiteral(SAGA_BINARY_DIR) + QStringLiteral("/node_modules")};
    for (const QString &root : roots) {
        QDir dir(root + QStringLiteral("/wiremock/build"));
        const QStringList jars =
            dir.entryList({QStringLiteral("wiremock-standalone-*.jar")}, QDir::Files, QDir::Name);
        if (!jars.isEmpty())
            return dir.filePath(jars.last());
    }
    return {};
}

QUrl startOwnWireMock(QString *error)
{
    const QString jar = wiremockJar();
    if (jar.isEmpty()) {
        *error = QStringLiteral("WireMock jar not found: run scripts/test.sh (it installs wiremock "
                                "from npm into .deps/) or set SAGA_WIREMOCK_JAR");
        return {};
    }
    auto wm = std::make_unique<OwnWireMock>();
    wm->process = std::make_unique<QProcess>();
    TestServices::endsWithThisTest(*wm->process);
    wm->process->setProcessChannelMode(QProcess::MergedChannels);
    wm->process->start(QStringLiteral("java"),
                       {QStringLiteral("-jar"), jar, QStringLiteral("--port"), QStringLiteral("0"),
                        QStringLiteral("--bind-address"), QStringLiteral("127.0.0.1"),
                        QStringLiteral("--root-dir"),
                        TestServices::sourceDir() + QStringLiteral("/resources/wiremock"),
                        QStringLiteral("--disable-banner"), QStringLiteral("--async-response-enabled=true")});
    if (!wm->process->waitForStarted(10000)) {
        *error = QStringLiteral("cannot start java: ") + wm->process->errorString();
        return {};
    }
    // WireMock prints "port: NNNN" once it listens.
    static const QRegularExpression portLine(QStringLiteral("port:\\s+(\\d+)"));
    QByteArray seen;
    QElapsedTimer timer;
    timer.start();
    while (timer.elapsed() < 60000) {
        if (!wm->process->waitForReadyRead(500) && wm->process->state() == QProcess::NotRunning)
            break;
        seen += wm->process->readAll();
        const auto m = portLine.match(QString::fromUtf8(seen));
        if (m.hasMatch()) {
            const QUrl url(QStringLiteral("http://127.0.0.1:%1").arg(m.captured(1)));
            g_wiremock = std::move(wm);
            registerCleanup();
            return url;
        }
    }
    *error = QStringLiteral("WireMock did not report its port: ") + QString::fromUtf8(seen);
    return {};
}

} // namespace

namespace TestServices {

QString newPostgresDatabase(QString *error)
{
    QMutexLocker lock(&g_mutex);
    QString localError;
    const QString base = postgresBase(&localError);
    if (base.isEmpty()) {
        if (error)
            *error = localError;
        return {};
    }
    const QString name = QStringLiteral("t_%1_%2")
                             .arg(QCoreApplication::applicationPid())
                             .arg(QRandomGenerator::global()->generate(), 8, 16, QLatin1Char('0'));
    if (!psql(base, QStringLiteral("CREATE DATABASE %1").arg(name), error))
        return {};
    return base + QLatin1Char('/') + name;
}

bool postgresAdmin(const QString &sql, QString *error)
{
    QString base;
    {
        QMutexLocker lock(&g_mutex);
        QString localError;
        base = postgresBase(&localError);
        if (base.isEmpty()) {
            if (error)
                *error = localError;
            return false;
        }
    }
    return psql(base, sql, error);
}

QUrl wiremockUrl(QString *error)
{
    QMutexLocker lock(&g_mutex);
    if (!g_wiremockUrl.isEmpty())
        return g_wiremockUrl;
    const QString fromEnv = env("SAGA_TEST_WIREMOCK_URL");
    QString localError;
    g_wiremockUrl = fromEnv.isEmpty() ? startOwnWireMock(&localError) : QUrl(fromEnv);
    if (g_wiremockUrl.isEmpty() && error)
        *error = localError;
    return g_wiremockUrl;
}

bool resetWireMock(QString *error)
{
    const QUrl base = wiremockUrl(error);
    if (base.isEmpty())
        return false;
    QNetworkAccessManager nam;
    QNetworkRequest request(base.resolved(QUrl(QStringLiteral("/__admin/reset"))));
    request.setHeader(QNetworkRequest::ContentTypeHeader, QStringLiteral("application/json"));
    std::unique_ptr<QNetworkReply> reply(nam.post(request, QByteArray()));
    QEventLoop loop;
    QObject::connect(reply.get(), &QNetworkReply::finished, &loop, &QEventLoop::quit);
    QTimer::singleShot(15000, &loop, &QEventLoop::quit);
    loop.exec();
    if (!reply->isFinished() || reply->error() != QNetworkReply::NoError) {
        if (error)
            *error = QStringLiteral("WireMock reset failed: ") + reply->errorString();
        return false;
    }
    return true;
}

QUrl freshWireMock(QString *error)
{
    QString why;
    const QUrl base = wiremockUrl(&why);
    if (base.isEmpty()) {
        if (error)
            *error = QStringLiteral("WireMock could not be started: ") + why;
        return {};
    }
    if (!resetWireMock(error))
        return {};
    return base;
}

QString tempDir()
{
    QMutexLocker lock(&g_mutex);
    if (!g_tempRoot) {
        g_tempRoot = std::make_unique<QTemporaryDir>(QDir::tempPath()
                                                     + QStringLiteral("/saga-test-XXXXXX"));
        registerCleanup();
    }
    static int counter = 0;
    const QString path = g_tempRoot->filePath(QString::number(++counter));
    QDir().mkpath(path);
    return path;
}

bool setWritable(const QString &path, bool writable, QString *error)
{
    auto fail = [&](const QString &why) {
        if (error)
            *error = QStringLiteral("cannot make %1 %2: %3")
                         .arg(path, writable ? QStringLiteral("writable") : QStringLiteral("read-only"), why);
        return false;
    };
    if (::geteuid() == 0) {
        QString output;
        if (run(QStringLiteral("chattr"), {writable ? QStringLiteral("-i") : QStringLiteral("+i"), path}, &output, 10000) != 0)
            return fail(QStringLiteral("chattr: ") + output.trimmed());
    } else {
        QFile::Permissions p = QFile::permissions(path);
        const QFile::Permissions write = QFile::WriteOwner | QFile::WriteUser;
        if (!QFile::setPermissions(path, writable ? p | write : p & ~(write | QFile::WriteGroup | QFile::WriteOther)))
            return fail(QStringLiteral("chmod failed"));
    }
    const bool canWrite = ::access(QFile::encodeName(path).constData(), W_OK) == 0;
    if (canWrite != writable)
        return fail(QStringLiteral("access(W_OK) still says %1").arg(canWrite ? QStringLiteral("writable") : QStringLiteral("not writable")));
    return true;
}

void endsWithThisTest(QProcess &process)
{
    process.setChildProcessModifier([] { ::prctl(PR_SET_PDEATHSIG, SIGKILL); });
}

QString sourceDir()
{
    const QString fromEnv = env("SAGA_SOURCE_DIR");
    return fromEnv.isEmpty() ? QStringLiteral(SAGA_SOURCE_DIR) : fromEnv;
}

QString programPath(const QString &name)
{
    const QString bin = QStringLiteral(SAGA_BINARY_DIR);
    if (name == QLatin1String("saga-server"))
        return bin + QStringLiteral("/app/server/saga-server");
    if (name == QLatin1String("saga-console"))
        return bin + QStringLiteral("/app/console/saga-console");
    return bin + QLatin1Char('/') + name;
}

void addSeedRows(quint32 first, quint32 last)
{
    QTest::addColumn<quint32>("seed");
    for (quint32 seed = first; seed <= last; ++seed)
        QTest::newRow(qPrintable(QStringLiteral("seed %1").arg(seed))) << seed;
}

SmallDisk::SmallDisk(qint64 bytes)
    : m_path(tempDir())
{
    const QByteArray options = "size=" + QByteArray::number(bytes) + ",mode=0777";
    if (::mount("tmpfs", QFile::encodeName(m_path).constData(), "tmpfs", MS_NOSUID | MS_NODEV, options.constData()) != 0)
        m_error = QStringLiteral("cannot mount a %1-byte tmpfs on %2: %3 (the test command runs as root)")
                      .arg(bytes)
                      .arg(m_path, QString::fromLocal8Bit(std::strerror(errno)));
    else
        m_mounted = true;
}

SmallDisk::~SmallDisk()
{
    if (m_mounted && ::umount2(QFile::encodeName(m_path).constData(), MNT_DETACH) != 0)
        qWarning("cannot unmount %s: %s", qPrintable(m_path), std::strerror(errno));
}

bool SmallDisk::resize(qint64 bytes, QString *error)
{
    const QByteArray options = "size=" + QByteArray::number(bytes);
    if (::mount(nullptr, QFile::encodeName(m_path).constData(), nullptr, MS_REMOUNT | MS_NOSUID | MS_NODEV,
                options.constData())
        == 0)
        return true;
    if (error)
        *error = QStringLiteral("cannot resize %1 to %2 bytes: %3").arg(m_path).arg(bytes).arg(QString::fromLocal8Bit(std::strerror(errno)));
    return false;
}

qint64 SmallDisk::freeBytes() const
{
    struct statvfs s;
    if (::statvfs(QFile::encodeName(m_path).constData(), &s) != 0)
        return -1;
    return qint64(s.f_bavail) * qint64(s.f_frsize);
}

} // namespace TestServices
