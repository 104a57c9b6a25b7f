// DatabaseUrl::parse() on good and bad URLs: the query's libpq connection
// parameters are read (percent-decoded, checked) or refused with an error naming
// the parameter, never dropped; toString() reads back the same URL without its
// secrets; connectOptions() quotes every value so that libpq's own parser
// (PQconninfoParse, after QPSQL's ';' -> ' ') reads back exactly the URL's values.

#include "databaseurl.h"

#include <QSqlDatabase>
#include <QtTest>
#include <libpq-fe.h>

using Parameters = QList<std::pair<QString, QString>>;

class tst_DatabaseUrl : public QObject
{
    Q_OBJECT
private slots:
    void readsGoodUrls_data();
    void readsGoodUrls();
    void refusesBadUrls_data();
    void refusesBadUrls();
    void connectOptionsQuoteForLibpq_data();
    void connectOptionsQuoteForLibpq();
    void urlParametersOverTheDefaults();
    void sqliteHasNoConnectOptions();
};

void tst_DatabaseUrl::readsGoodUrls_data()
{
    QTest::addColumn<QString>("text");
    QTest::addColumn<QString>("user");
    QTest::addColumn<QString>("password");
    QTest::addColumn<QString>("host");
    QTest::addColumn<int>("port");
    QTest::addColumn<QString>("database");
    QTest::addColumn<Parameters>("parameters");
    QTest::addColumn<QString>("shown");

    QTest::newRow("plain") << "postgresql://postgres@127.0.0.1:5432/sagas" << "postgres" << "" << "127.0.0.1" << 5432
                           << "sagas" << Parameters{} << "postgresql://postgres@127.0.0.1:5432/sagas";
    QTest::newRow("sslmode") << "postgresql://postgres@127.0.0.1:6543/sagas?sslmode=require" << "postgres" << ""
                             << "127.0.0.1" << 6543 << "sagas" << Parameters{{"sslmode", "require"}}
                             << "postgresql://postgres@127.0.0.1:6543/sagas?sslmode=require";
    QTest::newRow("many, encoded")
        << "postgres://saga:s%40cret@DB.example:6432/sagas?sslmode=verify-full&sslrootcert=/etc/ssl/root%20ca.pem"
           "&application_name=saga%20east&connect_timeout=10&target_session_attrs=read-write"
           "&options=-c%20statement_timeout%3D5000&keepalives_idle=30&tcp_user_timeout=0"
        << "saga" << "s@cret" << "db.example" << 6432 << "sagas"
        << Parameters{{"sslmode", "verify-full"},
                      {"sslrootcert", "/etc/ssl/root ca.pem"},
                      {"application_name", "saga east"},
                      {"connect_timeout", "10"},
                      {"target_session_attrs", "read-write"},
                      {"options", "-c statement_timeout=5000"},
                      {"keepalives_idle", "30"},
                      {"tcp_user_timeout", "0"}}
        << "postgresql://saga@db.example:6432/sagas?sslmode=verify-full&sslrootcert=%2Fetc%2Fssl%2Froot%20ca.pem"
           "&application_name=saga%20east&connect_timeout=10&target_session_attrs=read-write"
           "&options=-c%20statement_timeout%3D5000&keepalives_idle=30&tcp_user_timeout=0";
    QTest::newRow("ssl files, sslpassword hidden")
        << "postgresql://u:pw@h/db?sslcert=/c.pem&sslkey=/k.pem&sslpassword=hunter2&sslcrl=/crl.pem&sslmode=verify-ca"
        << "u" << "pw" << "h" << 5432 << "db"
        << Parameters{{"sslcert", "/c.pem"}, {"sslkey", "/k.pem"}, {"sslpassword", "hunter2"},
                      {"sslcrl", "/crl.pem"}, {"sslmode", "verify-ca"}}
        << "postgresql://u@h:5432/db?sslcert=%2Fc.pem&sslkey=%2Fk.pem&sslcrl=%2Fcrl.pem&sslmode=verify-ca";
    QTest::newRow("socket directory") << "postgresql://postgres@/sagas?host=/run/postgresql&port=5433" << "postgres"
                                      << "" << "/run/postgresql" << 5433 << "sagas" << Parameters{}
                                      << "postgresql://postgres@:5433/sagas?host=%2Frun%2Fpostgresql";
    QTest::newRow("plus, quotes, UTF-8") << "postgresql://u@h:1/db?application_name=O'Brien+z%C3%BCrich%22"
                                         << "u" << "" << "h" << 1 << "db"
                                         << Parameters{{"application_name", QString::fromUtf8("O'Brien+zürich\"")}}
                                         << "postgresql://u@h:1/db?application_name=O%27Brien%2Bz%C3%BCrich%22";
    QTest::newRow("empty query") << "postgresql://u@h/db?" << "u" << "" << "h" << 5432 << "db" << Parameters{}
                                 << "postgresql://u@h:5432/db";
    QTest::newRow("IPv6") << "postgresql://u@[::1]:5/db?keepalives=0" << "u" << "" << "::1" << 5 << "db"
                          << Parameters{{"keepalives", "0"}} << "postgresql://u@[::1]:5/db?keepalives=0";
}

void tst_DatabaseUrl::readsGoodUrls()
{
    QFETCH(QString, text);
    QFETCH(QString, user);
    QFETCH(QString, password);
    QFETCH(QString, host);
    QFETCH(int, port);
    QFETCH(QString, database);
    QFETCH(Parameters, parameters);
    QFETCH(QString, shown);
    QString error;
    const std::optional<DatabaseUrl> url = DatabaseUrl::parse(text, &error);
    QVERIFY2(url, qPrintable(error));
    QVERIFY(url->isPostgres());
    QCOMPARE(url->user, user);
    QCOMPARE(url->password, password);
    QCOMPARE(url->host, host);
    QCOMPARE(url->port, port);
    QCOMPARE(url->database, database);
    QCOMPARE(url->parameters, parameters);
    QCOMPARE(url->toString(), shown);
    QVERIFY(!url->toString().contains(QLatin1String("hunter2")));
    // What is shown (and saved by the console) reads back as the same database,
    // minus the secrets.
    const std::optional<DatabaseUrl> again = DatabaseUrl::parse(url->toString(), &error);
    QVERIFY2(again, qPrintable(error));
    QCOMPARE(again->host, host);
    QCOMPARE(again->port, port);
    QCOMPARE(again->database, database);
    QCOMPARE(again->user, user);
    Parameters shownParameters = parameters;
    shownParameters.removeIf([](const auto &p) { return p.first == QLatin1String("sslpassword"); });
    QCOMPARE(again->parameters, shownParameters);
}

void tst_DatabaseUrl::refusesBadUrls_data()
{
    QTest::addColumn<QString>("text");
    QTest::addColumn<QStringList>("errorHas");

    const QString base = QStringLiteral("postgresql://u:pw@h:5432/db");
    QTest::newRow("unknown") << base + "?sslmod=require" << QStringList{"Unknown parameter 'sslmod'", "sslmode"};
    QTest::newRow("upper case") << base + "?SSLMODE=require" << QStringList{"Unknown parameter 'SSLMODE'"};
    QTest::newRow("bad sslmode") << base + "?sslmode=requir" << QStringList{"'sslmode'", "verify-full", "'requir'"};
    QTest::newRow("empty value") << base + "?sslmode=" << QStringList{"'sslmode'", "no value"};
    QTest::newRow("no =") << base + "?sslmode" << QStringList{"'sslmode'", "no value"};
    QTest::newRow("twice") << base + "?sslmode=require&sslmode=disable" << QStringList{"'sslmode'", "twice"};
    QTest::newRow("host twice") << base + "?host=/tmp" << QStringList{"'host'", "twice"};
    QTest::newRow("port twice") << base + "?port=5433" << QStringList{"'port'", "twice"};
    QTest::newRow("bad escape") << base + "?sslrootcert=/tmp/%zz.pem"
                                << QStringList{"'sslrootcert'", "percent-encoding", "write a '%' as %25"};
    QTest::newRow("cut escape") << base + "?application_name=abc%4" << QStringList{"'application_name'", "percent-encoding"};
    QTest::newRow("lone %") << base + "?application_name=100%" << QStringList{"'application_name'", "percent-encoding"};
    QTest::newRow("bad escape in name") << base + "?ssl%zzmode=require" << QStringList{"ssl%zzmode", "percent-encoding"};
    QTest::newRow("NUL") << base + "?application_name=a%00b" << QStringList{"'application_name'", "%00"};
    QTest::newRow("not UTF-8") << base + "?application_name=%FF" << QStringList{"'application_name'", "UTF-8"};
    QTest::newRow("user in query") << base + "?user=other" << QStringList{"'user'", "USER@HOST"};
    QTest::newRow("password in query") << base + "?password=x" << QStringList{"'password'"};
    QTest::newRow("dbname in query") << base + "?dbname=x" << QStringList{"'dbname'"};
    QTest::newRow("fallback name") << base + "?fallback_application_name=x"
                                   << QStringList{"'fallback_application_name'", "application_name"};
    QTest::newRow("negative timeout") << base + "?connect_timeout=-1" << QStringList{"'connect_timeout'", "'-1'"};
    QTest::newRow("word timeout") << base + "?connect_timeout=ten" << QStringList{"'connect_timeout'"};
    QTest::newRow("keepalives 2") << base + "?keepalives=2" << QStringList{"'keepalives'", "0 or 1"};
    QTest::newRow("port 0") << "postgresql://u@/db?host=/tmp&port=0" << QStringList{"'port'", "'0'"};
    QTest::newRow("port 70000") << "postgresql://u@/db?host=/tmp&port=70000" << QStringList{"'port'"};
    QTest::newRow("several hosts") << "postgresql://u@/db?host=a,b" << QStringList{"'host'", "one host"};
    QTest::newRow("target attrs") << base + "?target_session_attrs=master" << QStringList{"'target_session_attrs'"};
    QTest::newRow("semicolon") << base + "?options=-c%20a%3Db%3Bc" << QStringList{"'options'", "';'"};
    QTest::newRow("fragment") << base + "?sslmode=require#x" << QStringList{"'#'"};
    QTest::newRow("no host") << "postgresql://u@/db?sslmode=disable" << QStringList{"host"};
    // SQLite's names for a database in no file: each connection would have its own, lost at exit.
    QTest::newRow("sqlite in memory") << "sqlite::memory:" << QStringList{"needs a file path", "':memory:'"};
    QTest::newRow("sqlite file URI") << "sqlite:file::memory:" << QStringList{"needs a file path", "'file::memory:'"};
    QTest::newRow("sqlite parameter") << "sqlite:/tmp/x.db?mode=ro" << QStringList{"SQLite", "'mode'"};
    QTest::newRow("sqlite// parameter") << "sqlite:///tmp/x.db?cache=shared&mode=ro" << QStringList{"SQLite", "'cache'"};
}

void tst_DatabaseUrl::refusesBadUrls()
{
    QFETCH(QString, text);
    QFETCH(QStringList, errorHas);
    QString error;
    QVERIFY(!DatabaseUrl::parse(text, &error));
    for (const QString &part : errorHas)
        QVERIFY2(error.contains(part), qPrintable(QStringLiteral("'%1' not in: %2").arg(part, error)));
    // The URL's password never shows in an error.
    QVERIFY2(!error.contains(QLatin1String("pw")), qPrintable(error));
}

void tst_DatabaseUrl::connectOptionsQuoteForLibpq_data()
{
    QTest::addColumn<QString>("query");
    QTest::addColumn<Parameters>("expected");
    QTest::newRow("spaces and quotes")
        << "application_name=O'Brien%27s%20app&options=-c%20search_path%3D'a%20b'"
        << Parameters{{"application_name", "O'Brien's app"}, {"options", "-c search_path='a b'"}};
    QTest::newRow("backslashes") << "sslrootcert=C:%5Ccerts%5Croot%20ca.pem&sslkey=%5C'%5C%5C"
                                 << Parameters{{"sslrootcert", "C:\\certs\\root ca.pem"}, {"sslkey", "\\'\\\\"}};
    QTest::newRow("equals and spaces") << "sslpassword=%20a%3Db%20%20c%3D&sslcrl=x%20%3D%20y"
                                       << Parameters{{"sslpassword", " a=b  c="}, {"sslcrl", "x = y"}};
    QTest::newRow("UTF-8") << "application_name=z%C3%BCrich" << Parameters{{"application_name", QString::fromUtf8("zürich")}};
}

// What QPSQL does with the options (QPSQLDriver::open: ';' -> ' ', appended to
// host/dbname/user/password/port it quotes itself), then libpq's own parser.
void tst_DatabaseUrl::connectOptionsQuoteForLibpq()
{
    QFETCH(QString, query);
    QFETCH(Parameters, expected);
    QString error;
    const std::optional<DatabaseUrl> url = DatabaseUrl::parse("postgresql://u@h:5432/db?" + query, &error);
    QVERIFY2(url, qPrintable(error));
    QString options = url->connectOptions();
    options.replace(QLatin1Char(';'), QLatin1Char(' '));
    const QByteArray conninfo = QByteArray("host='h' dbname='db' user='u' port='5432' ") + options.toUtf8();
    char *message = nullptr;
    PQconninfoOption *parsed = PQconninfoParse(conninfo.constData(), &message);
    QVERIFY2(parsed, message ? message : "PQconninfoParse failed");
    QMap<QString, QString> values;
    for (PQconninfoOption *o = parsed; o->keyword; ++o) {
        if (o->val)
            values.insert(QString::fromUtf8(o->keyword), QString::fromUtf8(o->val));
    }
    PQconninfoFree(parsed);
    for (const auto &[name, value] : expected)
        QCOMPARE(values.value(name), value);
    QCOMPARE(values.value("host"), QStringLiteral("h"));
    QCOMPARE(values.value("connect_timeout"), QStringLiteral("5"));
}

// The URL's value replaces the programs' default (never two of one keyword); the
// program's name is only the fallback, so the URL's application_name (or
// PGAPPNAME) wins.
void tst_DatabaseUrl::urlParametersOverTheDefaults()
{
    QString error;
    const std::optional<DatabaseUrl> plain = DatabaseUrl::parse("postgresql://u@h/db", &error);
    QVERIFY2(plain, qPrintable(error));
    const QString defaults = plain->connectOptions();
    QVERIFY2(defaults.contains(QLatin1String("connect_timeout='5'")), qPrintable(defaults));
    QVERIFY2(defaults.contains(QLatin1String("tcp_user_timeout='30000'")), qPrintable(defaults));
    QVERIFY2(defaults.contains(QLatin1String("fallback_application_name='tst_databaseurl'")), qPrintable(defaults));
    QVERIFY2(!defaults.contains(QLatin1String(";application_name")), qPrintable(defaults));

    const std::optional<DatabaseUrl> url =
        DatabaseUrl::parse("postgresql://u@h/db?connect_timeout=20&application_name=east&sslmode=require", &error);
    QVERIFY2(url, qPrintable(error));
    const QString options = url->connectOptions();
    QCOMPARE(options.count(QLatin1String("connect_timeout=")), 1);
    QVERIFY2(options.contains(QLatin1String("connect_timeout='20'")), qPrintable(options));
    QVERIFY2(options.contains(QLatin1String(";application_name='east'")), qPrintable(options));
    QVERIFY2(options.contains(QLatin1String("sslmode='require'")), qPrintable(options));
    QVERIFY2(options.contains(QLatin1String("keepalives_idle='10'")), qPrintable(options));

    // Every connection made from the URL carries them.
    const QString name = QStringLiteral("tst-databaseurl");
    {
        const QSqlDatabase db = url->addConnection(name);
        QCOMPARE(db.connectOptions(), options);
        QCOMPARE(db.hostName(), QStringLiteral("h"));
    }
    QSqlDatabase::removeDatabase(name);
}

void tst_DatabaseUrl::sqliteHasNoConnectOptions()
{
    QString error;
    const std::optional<DatabaseUrl> url = DatabaseUrl::parse("sqlite:/tmp/saga.db", &error);
    QVERIFY2(url, qPrintable(error));
    QCOMPARE(url->path, QStringLiteral("/tmp/saga.db"));
    QVERIFY(url->parameters.isEmpty());
    QCOMPARE(url->connectOptions(), QString());
    QCOMPARE(url->toString(), QStringLiteral("sqlite:/tmp/saga.db"));
}

QTEST_GUILESS_MAIN(tst_DatabaseUrl)
#include "tst_databaseurl.moc"
