#pragma once

// A real saga-server for the GUI tests (header only): started with QProcess on
// 127.0.0.1, a temp secret file and a SQLite database; tokens minted with
// `saga-server token`.

#include "testservices.h"

#include <QProcess>
#include <QRegularExpression>
#include <QTest>
#include <QUrl>
#include <QUuid>
#include <memory>
#include <signal.h>

class SagaServerProcess
{
public:
    SagaServerProcess()
    {
        m_dir = TestServices::tempDir();
        m_secret = m_dir + QStringLiteral("/secret");
        QFile f(m_secret);
        if (f.open(QIODevice::WriteOnly))
            f.write(QUuid::createUuid().toByteArray() + QUuid::createUuid().toByteArray() + "\n");
        m_database = QStringLiteral("sqlite:") + m_dir + QStringLiteral("/server.sqlite");
    }
    ~SagaServerProcess() { stop(); }

    // Starts on `port` (0: a free one); returns an error text or "".
    QString start(int port = 0)
    {
        m_process = std::make_unique<QProcess>();
        TestServices::endsWithThisTest(*m_process);
        m_killed = false;
        m_process->setProcessChannelMode(QProcess::MergedChannels);
        const QString listen = QStringLiteral("127.0.0.1:%1").arg(port);
        m_process->start(TestServices::programPath(QStringLiteral("saga-server")),
                         QStringList{QStringLiteral("--listen"), listen, QStringLiteral("--database"), m_database,
                          QStringLiteral("--step-delay"), QStringLiteral("20"), QStringLiteral("--retry-cooldown"),
                          QStringLiteral("0"), QStringLiteral("--auth-secret-file"), m_secret}
                             + m_extraArguments);
        if (!m_process->waitForStarted(10000))
            return QStringLiteral("saga-server did not start: %1").arg(m_process->errorString());
        static const QRegularExpression listening(QStringLiteral("listening on (http://\\S+)"));
        QString output;
        const bool found = QTest::qWaitFor(
            [&] {
                output += QString::fromLocal8Bit(m_process->readAll());
                const QRegularExpressionMatch m = listening.match(output);
                if (m.hasMatch())
                    m_url = QUrl(m.captured(1));
                return m.hasMatch() || m_process->state() == QProcess::NotRunning;
            },
            30000);
        if (!found || !m_url.isValid())
            return QStringLiteral("saga-server did not print its address: %1").arg(output);
        return {};
    }

    void kill()
    {
        if (m_process) {
            m_killed = true; // (on purpose: not reported by stop())
            m_process->kill();
            m_process->waitForFinished(10000);
        }
    }
    // A frozen server (SIGSTOP): connections are accepted by the kernel and
    // requests sent, but nothing is answered until thaw() (SIGCONT).
    void freeze()
    {
        if (m_process && m_process->state() != QProcess::NotRunning)
            ::kill(pid_t(m_process->processId()), SIGSTOP);
    }
    void thaw()
    {
        if (m_process && m_process->state() != QProcess::NotRunning)
            ::kill(pid_t(m_process->processId()), SIGCONT);
    }
    // Ends the server with SIGTERM (SIGKILL after 10 s). One that had crashed or
    // does not exit cleanly (a sanitizer's report, an assertion) says so in the
    // test's log with the end of its output, which is otherwise never shown.
    void stop()
    {
        if (!m_process)
            return;
        if (m_process->state() != QProcess::NotRunning) {
            thaw(); // a frozen process would not see SIGTERM
            m_process->terminate();
            if (!m_process->waitForFinished(10000)) {
                kill();
                return;
            }
        }
        if (!m_killed && (m_process->exitStatus() == QProcess::CrashExit || m_process->exitCode() != 0))
            qWarning().noquote() << "saga-server ended" << (m_process->exitStatus() == QProcess::CrashExit
                                                                ? QStringLiteral("by a crash")
                                                                : QStringLiteral("with code %1").arg(m_process->exitCode()))
                                 << "; its last output:\n"
                                 << QString::fromLocal8Bit(m_process->readAll().right(4000));
        m_process.reset();
    }

    // The database the next start() uses (sqlite:PATH); another server's
    // database() starts this one on that server's orders.
    QString database() const { return m_database; }
    void setDatabase(const QString &url) { m_database = url; }

    // More flags for the next start(), e.g. {"--rate-limit", "1:2"}.
    void setExtraArguments(const QStringList &arguments) { m_extraArguments = arguments; }

    QUrl url() const { return m_url; }
    int port() const { return m_url.port(); }

    QString mintToken(bool support, QString *error) const
    {
        QProcess p;
        QStringList args{QStringLiteral("token"), QStringLiteral("--subject"),
                         QUuid::createUuid().toString(QUuid::WithoutBraces), QStringLiteral("--auth-secret-file"),
                         m_secret};
        if (support)
            args << QStringLiteral("--role") << QStringLiteral("SUPPORT");
        p.start(TestServices::programPath(QStringLiteral("saga-server")), args);
        if (!p.waitForFinished(20000) || p.exitCode() != 0) {
            *error = QStringLiteral("saga-server token failed: %1").arg(QString::fromLocal8Bit(p.readAllStandardError()));
            return {};
        }
        return QString::fromLatin1(p.readAllStandardOutput()).trimmed();
    }

    // start(), then a SUPPORT token into *token: empty, or why either failed.
    QString startWithSupportToken(QString *token)
    {
        QString error = start();
        if (error.isEmpty())
            *token = mintToken(true, &error);
        if (error.isEmpty() && token->isEmpty())
            error = QStringLiteral("saga-server token printed no token");
        return error;
    }

private:
    QString m_dir;
    QString m_secret;
    QString m_database;
    QStringList m_extraArguments;
    QUrl m_url;
    std::unique_ptr<QProcess> m_process;
    bool m_killed = false; // kill() ended it
};
