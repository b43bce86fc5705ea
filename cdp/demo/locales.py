"""Hand-written per-market data for the demo generator: names, places, phone ranges, products, texts.

Kept as literal lists (no faker) so the demo data is identical on every machine and library version.
Names and places are common ones in their own script; postcodes are area codes shared by many homes.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

# Shop domain used in page-view URLs; RFC 2606 reserved, like the e-mail domains.
SHOP_URL = "https://shop.example.com"
EMAIL_DOMAINS = ("example.com", "example.net", "example.org")


@dataclass(frozen=True)
class City:
    name: str
    region: str
    timezone: str
    postcodes: tuple[str, ...]
    # US/BR: landline area codes (used for the phone); CN: districts; JP: towns (町名). Empty elsewhere.
    local: tuple[str, ...] = ()
    weight: int = 2


@dataclass(frozen=True)
class Locale:
    country: str
    language: str
    currency: str
    weight: int  # share of demo customers, relative
    first_names: tuple[tuple[str, str], ...]  # (native, romanized for the e-mail local part)
    last_names: tuple[tuple[str, str], ...]
    cities: tuple[City, ...]
    streets: tuple[str, ...]
    # National significant number = prefix + `mobile_digits` random digits, the first never 0 (JP 090-0 is
    # unallocated); tests/test_demo_generate.py checks every generated number with phonenumbers.
    mobile_prefixes: tuple[str, ...]
    mobile_digits: int


_GERMAN_ROMAN = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue"})


def _latin(names: str, german: bool = False) -> tuple[tuple[str, str], ...]:
    """Pair each Latin-script name with its ASCII form (Müller → mueller in German, Núñez → nunez)."""
    out = []
    for name in names.split(","):
        name = name.strip()
        ascii_form = name.translate(_GERMAN_ROMAN) if german else name
        ascii_form = unicodedata.normalize("NFKD", ascii_form).encode("ascii", "ignore").decode()
        out.append((name, "".join(ch for ch in ascii_form.lower() if ch.isalpha())))
    return tuple(out)


def _pairs(spec: str) -> tuple[tuple[str, str], ...]:
    """'佐藤:sato 鈴木:suzuki' → (('佐藤', 'sato'), ('鈴木', 'suzuki'))."""
    return tuple((native, roman) for native, roman in (item.split(":") for item in spec.split()))


_LA, _NY, _CHI = "America/Los_Angeles", "America/New_York", "America/Chicago"

US = Locale(
    country="US",
    language="en",
    currency="USD",
    weight=22,
    first_names=_latin(
        "James, Mary, Robert, Patricia, John, Jennifer, Michael, Linda, David, Elizabeth, William, Barbara,"
        " Richard, Susan, Joseph, Jessica, Thomas, Sarah, Christopher, Karen, Daniel, Emily, Matthew, Ashley,"
        " Anthony, Olivia, Kevin, Madison, Brian, Grace, Ethan, Hannah, Carlos, María, José, Sofía, Zoë, Renée,"
        " Tyler, Brianna, Jamal, Aaliyah, Minh, Priya"
    ),
    last_names=_latin(
        "Smith, Johnson, Williams, Brown, Jones, Garcia, Miller, Davis, Rodriguez, Martinez, Hernandez, Lopez,"
        " Gonzalez, Wilson, Anderson, Taylor, Moore, Jackson, Martin, Lee, Perez, Thompson, White, Harris,"
        " Sanchez, Clark, Ramirez, Lewis, Robinson, Walker, Young, Allen, King, Wright, Scott, Nguyen, Kim,"
        " Patel, O'Brien, Washington, Cohen, Sullivan"
    ),
    cities=(
        # California weighted up: CCPA/CPRA rules need enough California residents in the demo.
        City("San Francisco", "CA", _LA, ("94102", "94103", "94110", "94114", "94117", "94122"), ("415", "628"), 3),
        City("Los Angeles", "CA", _LA, ("90012", "90026", "90028", "90036", "90046"), ("213", "310", "323"), 3),
        City("San Diego", "CA", _LA, ("92101", "92103", "92104", "92109", "92115"), ("619", "858"), 3),
        City("San Jose", "CA", _LA, ("95110", "95112", "95125", "95126"), ("408", "669"), 3),
        City("Sacramento", "CA", _LA, ("95814", "95816", "95818", "95819"), ("916",), 3),
        City("New York", "NY", _NY, ("10001", "10003", "10011", "10016", "10024"), ("212", "646", "917")),
        City("Brooklyn", "NY", _NY, ("11201", "11211", "11215", "11217", "11238"), ("718", "347")),
        City("Chicago", "IL", _CHI, ("60601", "60607", "60614", "60622", "60647"), ("312", "773")),
        City("Austin", "TX", _CHI, ("78701", "78702", "78704", "78745"), ("512", "737")),
        City("Houston", "TX", _CHI, ("77002", "77006", "77019", "77098"), ("713", "832")),
        City("Seattle", "WA", _LA, ("98101", "98103", "98107", "98115", "98122"), ("206",)),
        City("Boston", "MA", _NY, ("02108", "02115", "02116", "02118", "02130"), ("617", "857")),
        City("Denver", "CO", "America/Denver", ("80202", "80205", "80206", "80218"), ("303", "720")),
        City("Phoenix", "AZ", "America/Phoenix", ("85003", "85004", "85006", "85014"), ("602",)),
        City("Miami", "FL", _NY, ("33125", "33130", "33131", "33137"), ("305", "786")),
    ),
    streets=(
        "Main St",
        "Oak Ave",
        "Maple St",
        "Cedar Ln",
        "Pine St",
        "Elm St",
        "Washington Ave",
        "Lake St",
        "Hill Rd",
        "Sunset Blvd",
        "Park Ave",
        "Mission St",
        "Valencia St",
        "Broadway",
        "Market St",
        "Ocean Ave",
        "El Camino Real",
        "Lincoln Way",
        "Jefferson St",
        "Madison Ave",
    ),
    mobile_prefixes=(),  # US numbers are built from the city's area code (NANP has no mobile prefix)
    mobile_digits=7,
)

GB = Locale(
    country="GB",
    language="en",
    currency="GBP",
    weight=12,
    first_names=_latin(
        "Oliver, Amelia, George, Isla, Harry, Ava, Jack, Mia, Charlie, Isabella, Thomas, Sophie, Oscar, Grace,"
        " William, Lily, James, Freya, Alfie, Emily, Henry, Poppy, Archie, Evie, Joshua, Charlotte, Alexander,"
        " Florence, Noah, Siobhan, Niamh, Rhys, Callum, Eilidh, Aoife, Dylan"
    ),
    last_names=_latin(
        "Smith, Jones, Williams, Taylor, Brown, Davies, Evans, Wilson, Thomas, Johnson, Roberts, Robinson,"
        " Thompson, Wright, Walker, White, Edwards, Hughes, Green, Hall, Lewis, Harris, Clarke, Patel, Jackson,"
        " Wood, Turner, Cooper, Hill, Ward, Morris, Moore, Baker, Harrison, Morgan, MacDonald, O'Neill, Khan"
    ),
    cities=(
        City(
            "London",
            "England",
            "Europe/London",
            ("SE15 4QN", "N1 9GU", "E8 3RL", "SW9 7AB", "NW5 2HS", "W12 8QT"),
            weight=6,
        ),
        City("Manchester", "England", "Europe/London", ("M1 4BT", "M14 5RG", "M20 2LS", "M4 6BF")),
        City("Birmingham", "England", "Europe/London", ("B5 4TR", "B13 9NH", "B29 6BD")),
        City("Leeds", "England", "Europe/London", ("LS6 2QA", "LS7 3JB", "LS11 5DN")),
        City("Bristol", "England", "Europe/London", ("BS1 5TR", "BS6 6AX", "BS3 4LA")),
        City("Edinburgh", "Scotland", "Europe/London", ("EH1 2NG", "EH7 4HF", "EH9 1PR")),
        City("Glasgow", "Scotland", "Europe/London", ("G12 8QQ", "G41 2DL", "G3 7LH")),
        City("Cardiff", "Wales", "Europe/London", ("CF10 1FS", "CF24 4HQ", "CF11 9AD")),
        City("Belfast", "Northern Ireland", "Europe/London", ("BT7 1NN", "BT9 6FL")),
    ),
    streets=(
        "High Street",
        "Station Road",
        "Church Lane",
        "Victoria Road",
        "Green Lane",
        "Manor Road",
        "Park Road",
        "Queen's Road",
        "King Street",
        "Mill Lane",
        "The Crescent",
        "Kingsway",
        "Albert Street",
        "York Road",
    ),
    mobile_prefixes=(
        "7400",
        "7412",
        "7500",
        "7531",
        "7723",
        "7787",
        "7800",
        "7832",
        "7900",
        "7944",
        "7956",
        "7958",
        "7971",
    ),
    mobile_digits=6,
)

DE = Locale(
    country="DE",
    language="de",
    currency="EUR",
    weight=14,
    first_names=_latin(
        "Lukas, Anna, Leon, Lea, Finn, Hannah, Jonas, Mia, Paul, Emma, Felix, Sophie, Maximilian, Marie, Jürgen,"
        " Jörg, Sören, Günther, Björn, Käthe, Lena, Laura, Tobias, Julia, Sebastian, Katharina, Matthias,"
        " Sabine, Stefan, Ursula, Uwe, Gisela, Niklas, Charlotte, Moritz, Greta, Benedikt, Franziska, Özlem, Jörn",
        german=True,
    ),
    last_names=_latin(
        "Müller, Schmidt, Schneider, Fischer, Weber, Meyer, Wagner, Becker, Schulz, Hoffmann, Schäfer, Koch,"
        " Bauer, Richter, Klein, Wolf, Schröder, Neumann, Schwarz, Zimmermann, Braun, Krüger, Hofmann,"
        " Hartmann, Lange, Schmitt, Werner, Krause, Meier, Lehmann, Köhler, Herrmann, König, Walter, Huber,"
        " Kaiser, Fuchs, Möller, Weiß, Jäger, Groß, Böhm, Kühn, Yılmaz",
        german=True,
    ),
    cities=(
        City("Berlin", "Berlin", "Europe/Berlin", ("10115", "10243", "10437", "10961", "12043", "13353"), weight=5),
        City("München", "Bayern", "Europe/Berlin", ("80331", "80469", "80799", "81369", "81675"), weight=3),
        City("Hamburg", "Hamburg", "Europe/Berlin", ("20095", "20249", "22765", "22041"), weight=3),
        City("Köln", "Nordrhein-Westfalen", "Europe/Berlin", ("50667", "50823", "50937", "51063")),
        City("Frankfurt am Main", "Hessen", "Europe/Berlin", ("60311", "60316", "60594", "65929")),
        City("Düsseldorf", "Nordrhein-Westfalen", "Europe/Berlin", ("40210", "40477", "40545")),
        City("Stuttgart", "Baden-Württemberg", "Europe/Berlin", ("70173", "70176", "70469")),
        City("Leipzig", "Sachsen", "Europe/Berlin", ("04103", "04109", "04275")),
        City("Nürnberg", "Bayern", "Europe/Berlin", ("90402", "90429", "90459")),
    ),
    streets=(
        "Hauptstraße",
        "Bahnhofstraße",
        "Schulstraße",
        "Gartenstraße",
        "Dorfstraße",
        "Bergstraße",
        "Lindenstraße",
        "Kirchstraße",
        "Goethestraße",
        "Schillerstraße",
        "Friedrichstraße",
        "Königsallee",
        "Mühlenweg",
        "Am Markt",
        "Rosenweg",
        "Birkenweg",
        "Weißenburger Straße",
        "Brüsseler Platz",
    ),
    mobile_prefixes=(
        "151",
        "152",
        "157",
        "159",
        "160",
        "162",
        "170",
        "171",
        "172",
        "173",
        "174",
        "175",
        "176",
        "177",
        "178",
        "179",
    ),
    mobile_digits=8,
)

FR = Locale(
    country="FR",
    language="fr",
    currency="EUR",
    weight=11,
    first_names=_latin(
        "Jérôme, Hélène, Léa, Chloé, Zoé, Éloïse, Gaël, Noël, François, Françoise, Benoît, Maël, Inès, Théo,"
        " Amélie, Céline, Sébastien, Stéphane, Aurélie, Clément, Mathéo, Léon, Camille, Manon, Louis, Jules,"
        " Hugo, Lucas, Emma, Louise, Nathalie, Pierre, Margaux, Antoine, Océane, Raphaël, Anaïs, Loïc"
    ),
    last_names=_latin(
        "Martin, Bernard, Dubois, Thomas, Robert, Richard, Petit, Durand, Leroy, Moreau, Simon, Laurent,"
        " Lefèvre, Michel, Garcia, David, Bertrand, Roux, Vincent, Fournier, Morel, Girard, André, Lefebvre,"
        " Mercier, Dupont, Lambert, Bonnet, François, Legrand, Garnier, Faure, Rousseau, Blanc, Guérin, Muller,"
        " Perrin, Chevalier, Lemaître, Benoît, Ménard, Da Silva"
    ),
    cities=(
        City(
            "Paris", "Île-de-France", "Europe/Paris", ("75001", "75003", "75011", "75015", "75018", "75020"), weight=6
        ),
        City("Lyon", "Auvergne-Rhône-Alpes", "Europe/Paris", ("69001", "69003", "69006", "69007")),
        City("Marseille", "Provence-Alpes-Côte d'Azur", "Europe/Paris", ("13001", "13006", "13008")),
        City("Toulouse", "Occitanie", "Europe/Paris", ("31000", "31300", "31400")),
        City("Nice", "Provence-Alpes-Côte d'Azur", "Europe/Paris", ("06000", "06100", "06300")),
        City("Bordeaux", "Nouvelle-Aquitaine", "Europe/Paris", ("33000", "33300", "33800")),
        City("Lille", "Hauts-de-France", "Europe/Paris", ("59000", "59800")),
        City("Nantes", "Pays de la Loire", "Europe/Paris", ("44000", "44100", "44300")),
        City("Strasbourg", "Grand Est", "Europe/Paris", ("67000", "67100")),
    ),
    streets=(
        "rue de la Paix",
        "rue Victor-Hugo",
        "avenue Jean-Jaurès",
        "boulevard Saint-Germain",
        "rue de Rivoli",
        "place Bellecour",
        "rue Sainte-Catherine",
        "rue de la République",
        "chemin des Vignes",
        "allée des Tilleuls",
        "impasse du Moulin",
        "rue Émile-Zola",
        "quai de l'Horloge",
        "rue des Écoles",
    ),
    # 063x is partly unallocated, so it is left out.
    mobile_prefixes=("60", "61", "62", "64", "65", "66", "67", "68", "73", "74", "75", "76", "77", "78"),
    mobile_digits=7,
)

ES = Locale(
    country="ES",
    language="es",
    currency="EUR",
    weight=9,
    first_names=_latin(
        "José, María, Antonio, Carmen, Manuel, Josefa, Francisco, Ana, Javier, Lucía, Alejandro, Sofía, Álvaro,"
        " Martina, Sergio, Paula, Íñigo, Begoña, Pablo, Elena, Raúl, Nuria, Jesús, Inés, Ramón, Rocío, Adrián,"
        " Marina, Andrés, Pilar, Óscar, Ángela, Joaquín, Maite"
    ),
    # Spaniards carry two surnames; the generator joins two of these.
    last_names=_latin(
        "García, Rodríguez, González, Fernández, López, Martínez, Sánchez, Pérez, Gómez, Martín, Jiménez, Ruiz,"
        " Hernández, Díaz, Moreno, Muñoz, Álvarez, Romero, Alonso, Gutiérrez, Navarro, Torres, Domínguez,"
        " Vázquez, Ramos, Gil, Serrano, Blanco, Molina, Suárez, Ortega, Delgado, Castro, Núñez, Iglesias,"
        " Medina, Cortés, Márquez, Peña, Ibáñez, Ferrer, Durán, Benítez, Sáez"
    ),
    cities=(
        City("Madrid", "Comunidad de Madrid", "Europe/Madrid", ("28001", "28004", "28013", "28015", "28045"), weight=5),
        City("Barcelona", "Cataluña", "Europe/Madrid", ("08001", "08008", "08012", "08025", "08037"), weight=4),
        City("Valencia", "Comunitat Valenciana", "Europe/Madrid", ("46001", "46004", "46021")),
        City("Sevilla", "Andalucía", "Europe/Madrid", ("41001", "41003", "41011")),
        City("Málaga", "Andalucía", "Europe/Madrid", ("29001", "29006", "29016")),
        City("Bilbao", "País Vasco", "Europe/Madrid", ("48001", "48007", "48013")),
        City("Zaragoza", "Aragón", "Europe/Madrid", ("50001", "50004", "50009")),
        # One hour behind the mainland all year: a second time zone inside one country.
        City("Las Palmas de Gran Canaria", "Canarias", "Atlantic/Canary", ("35001", "35004", "35010")),
    ),
    streets=(
        "Calle Mayor",
        "Calle de Alcalá",
        "Avenida de la Constitución",
        "Paseo de Gràcia",
        "Calle de Serrano",
        "Gran Vía",
        "Rambla de Catalunya",
        "Calle del Príncipe",
        "Plaza de España",
        "Calle Larios",
        "Avenida de Andalucía",
        "Calle de Colón",
        "Calle de la Muñeca",
        "Avenida del Ejército",
    ),
    mobile_prefixes=("6",),
    mobile_digits=8,
)

BR = Locale(
    country="BR",
    language="pt",
    currency="BRL",
    weight=11,
    first_names=_latin(
        "João, Maria, José, Ana, Francisco, Antônia, Carlos, Adriana, Paulo, Juliana, Pedro, Márcia, Lucas,"
        " Fernanda, Luiz, Patrícia, Marcos, Aline, Luís, Sandra, Gabriel, Camila, Rafael, Amanda, Daniel, Bruna,"
        " Marcelo, Letícia, Bruno, Júlia, Eduardo, Vitória, Felipe, Beatriz, Raimundo, Conceição, Thiago,"
        " Larissa, Gustavo, Luana"
    ),
    last_names=_latin(
        "Silva, Santos, Oliveira, Souza, Rodrigues, Ferreira, Alves, Pereira, Lima, Gomes, Costa, Ribeiro,"
        " Martins, Carvalho, Almeida, Lopes, Soares, Fernandes, Vieira, Barbosa, Rocha, Dias, Nascimento,"
        " Andrade, Moreira, Nunes, Marques, Machado, Mendes, Freitas, Cardoso, Ramos, Gonçalves, Santana,"
        " Teixeira, Araújo, Magalhães, Conceição, Brandão, Simões"
    ),
    cities=(
        City(
            "São Paulo",
            "SP",
            "America/Sao_Paulo",
            ("01310-100", "04538-132", "05407-002", "01414-001", "04101-300"),
            ("11",),
            6,
        ),
        City(
            "Rio de Janeiro",
            "RJ",
            "America/Sao_Paulo",
            ("22070-011", "22410-003", "20040-020", "22290-030"),
            ("21",),
            4,
        ),
        City("Belo Horizonte", "MG", "America/Sao_Paulo", ("30130-010", "30140-071", "30380-403"), ("31",)),
        City("Curitiba", "PR", "America/Sao_Paulo", ("80010-010", "80240-210", "80730-000"), ("41",)),
        City("Porto Alegre", "RS", "America/Sao_Paulo", ("90010-150", "90570-020", "91330-000"), ("51",)),
        City("Salvador", "BA", "America/Bahia", ("40015-970", "41810-011", "40140-110"), ("71",)),
        City("Recife", "PE", "America/Recife", ("50030-230", "51020-000", "52011-000"), ("81",)),
        City("Manaus", "AM", "America/Manaus", ("69005-040", "69057-000"), ("92",)),
    ),
    streets=(
        "Rua das Flores",
        "Avenida Paulista",
        "Rua Augusta",
        "Rua Oscar Freire",
        "Avenida Atlântica",
        "Rua da Consolação",
        "Rua XV de Novembro",
        "Avenida Brasil",
        "Rua São João",
        "Rua Sete de Setembro",
        "Travessa do Comércio",
        "Alameda Santos",
        "Rua Visconde de Pirajá",
        "Avenida Getúlio Vargas",
    ),
    mobile_prefixes=("9",),  # after the city's two-digit area code: (11) 9xxxx-xxxx
    mobile_digits=8,
)

CN = Locale(
    country="CN",
    language="zh",
    currency="CNY",
    weight=10,
    first_names=_pairs(
        "伟:wei 芳:fang 娜:na 秀英:xiuying 敏:min 静:jing 丽:li 强:qiang 磊:lei 军:jun 洋:yang 勇:yong"
        " 艳:yan 杰:jie 娟:juan 涛:tao 明:ming 超:chao 秀兰:xiulan 霞:xia 平:ping 刚:gang 桂英:guiying"
        " 建华:jianhua 志强:zhiqiang 晓明:xiaoming 丽娟:lijuan 海燕:haiyan 子涵:zihan 浩然:haoran 欣怡:xinyi"
        " 宇轩:yuxuan 梓萱:zixuan 一诺:yinuo 俊杰:junjie 思雨:siyu 文博:wenbo 雨桐:yutong 佳怡:jiayi 嘉豪:jiahao"
    ),
    last_names=_pairs(
        "王:wang 李:li 张:zhang 刘:liu 陈:chen 杨:yang 黄:huang 赵:zhao 吴:wu 周:zhou 徐:xu 孙:sun 马:ma"
        " 朱:zhu 胡:hu 郭:guo 何:he 林:lin 罗:luo 高:gao 郑:zheng 梁:liang 谢:xie 宋:song 唐:tang 韩:han"
        " 冯:feng 邓:deng 曹:cao 彭:peng 曾:zeng 肖:xiao 田:tian 董:dong 袁:yuan 潘:pan 蒋:jiang 蔡:cai"
        " 欧阳:ouyang 司马:sima"
    ),
    cities=(
        City(
            "北京市",
            "北京市",
            "Asia/Shanghai",
            ("100020", "100080", "100010", "100032"),
            ("朝阳区", "海淀区", "东城区", "西城区"),
            4,
        ),
        City(
            "上海市",
            "上海市",
            "Asia/Shanghai",
            ("200120", "200030", "200040", "200001"),
            ("浦东新区", "徐汇区", "静安区", "黄浦区"),
            4,
        ),
        City("广州市", "广东省", "Asia/Shanghai", ("510620", "510030", "510220"), ("天河区", "越秀区", "海珠区")),
        City("深圳市", "广东省", "Asia/Shanghai", ("518057", "518048", "518001"), ("南山区", "福田区", "罗湖区")),
        City("杭州市", "浙江省", "Asia/Shanghai", ("310012", "310002", "310051"), ("西湖区", "上城区", "滨江区")),
        City("成都市", "四川省", "Asia/Shanghai", ("610021", "610041", "610031"), ("锦江区", "武侯区", "青羊区")),
        City("南京市", "江苏省", "Asia/Shanghai", ("210005", "210008"), ("玄武区", "鼓楼区")),
        City("武汉市", "湖北省", "Asia/Shanghai", ("430022", "430071"), ("江汉区", "武昌区")),
    ),
    streets=(
        "建国路",
        "中山路",
        "人民路",
        "解放路",
        "长安街",
        "南京西路",
        "淮海中路",
        "天河路",
        "深南大道",
        "文三路",
        "春熙路",
        "科技园路",
        "和平路",
        "新华路",
        "光明路",
        "学院路",
    ),
    mobile_prefixes=(
        "130",
        "131",
        "132",
        "133",
        "135",
        "136",
        "137",
        "138",
        "139",
        "150",
        "151",
        "152",
        "155",
        "156",
        "157",
        "158",
        "159",
        "180",
        "181",
        "182",
        "183",
        "185",
        "186",
        "187",
        "188",
        "189",
    ),
    mobile_digits=8,
)

JP = Locale(
    country="JP",
    language="ja",
    currency="JPY",
    weight=11,
    first_names=_pairs(
        "花子:hanako 太郎:taro 翔:sho 陽翔:haruto 蓮:ren 大翔:hiroto 悠真:yuma 湊:minato 健太:kenta"
        " 大輔:daisuke 誠:makoto 直樹:naoki 拓也:takuya 翼:tsubasa 結衣:yui 陽菜:hina さくら:sakura 美咲:misaki"
        " 葵:aoi 凛:rin 芽依:mei 優子:yuko 恵子:keiko 由美:yumi 真由美:mayumi 愛:ai 彩:aya 七海:nanami"
        " 美月:mizuki 莉子:riko 和子:kazuko 浩:hiroshi 隆:takashi 明美:akemi ひなた:hinata カナ:kana"
    ),
    last_names=_pairs(
        "佐藤:sato 鈴木:suzuki 高橋:takahashi 田中:tanaka 伊藤:ito 渡辺:watanabe 山本:yamamoto 中村:nakamura"
        " 小林:kobayashi 加藤:kato 吉田:yoshida 山田:yamada 佐々木:sasaki 山口:yamaguchi 松本:matsumoto"
        " 井上:inoue 木村:kimura 林:hayashi 斎藤:saito 清水:shimizu 山崎:yamazaki 森:mori 池田:ikeda"
        " 橋本:hashimoto 阿部:abe 石川:ishikawa 山下:yamashita 中島:nakajima 石井:ishii 小川:ogawa 前田:maeda"
        " 岡田:okada 長谷川:hasegawa 藤田:fujita 後藤:goto 近藤:kondo"
    ),
    cities=(
        City("渋谷区", "東京都", "Asia/Tokyo", ("150-0041", "150-0043", "150-0013"), ("神南", "道玄坂", "恵比寿"), 3),
        City("新宿区", "東京都", "Asia/Tokyo", ("160-0023", "169-0075", "160-0022"), ("西新宿", "高田馬場", "新宿"), 3),
        City("世田谷区", "東京都", "Asia/Tokyo", ("154-0024", "155-0031", "158-0094"), ("三軒茶屋", "北沢", "玉川"), 3),
        City("大阪市北区", "大阪府", "Asia/Tokyo", ("530-0001", "530-0012", "530-0047"), ("梅田", "芝田", "西天満"), 3),
        City(
            "横浜市中区", "神奈川県", "Asia/Tokyo", ("231-0023", "231-0062", "231-0861"), ("山下町", "桜木町", "元町")
        ),
        City("名古屋市中区", "愛知県", "Asia/Tokyo", ("460-0008", "460-0003"), ("栄", "錦")),
        City("福岡市中央区", "福岡県", "Asia/Tokyo", ("810-0001", "810-0041"), ("天神", "大名")),
        City("札幌市中央区", "北海道", "Asia/Tokyo", ("060-0061", "064-0820"), ("南一条西", "大通西")),
        City("京都市中京区", "京都府", "Asia/Tokyo", ("604-8005", "604-8042"), ("河原町", "新京極")),
    ),
    # Japanese addresses number blocks, not streets: these are building names for the optional last part.
    streets=("メゾン桜", "グランドハイツ", "サンシャインコート", "パークサイド", "コーポ山田", "ハイツ青葉"),
    mobile_prefixes=("90", "80", "70"),
    mobile_digits=8,
)

LOCALES: tuple[Locale, ...] = (US, GB, DE, FR, ES, BR, CN, JP)


@dataclass(frozen=True)
class Product:
    sku: str
    usd: int  # list price in whole US dollars; other currencies are derived with DEMO_RATES
    names: dict[str, str]  # by language


# Fixed demo rates (not market data): enough to give each currency a realistic magnitude.
DEMO_RATES = {"USD": 1.0, "EUR": 0.92, "GBP": 0.79, "BRL": 5.0, "CNY": 7.2, "JPY": 150.0}

_LANGS = ("en", "de", "fr", "es", "pt", "zh", "ja")


def _product(sku: str, usd: int, names: str) -> Product:
    return Product(sku, usd, dict(zip(_LANGS, names.split("|"), strict=True)))


PRODUCTS: tuple[Product, ...] = (
    _product(
        "WH-100",
        59,
        "Wireless Earbuds|Kabellose Ohrhörer|Écouteurs sans fil|Auriculares inalámbricos|"
        "Fones de ouvido sem fio|无线蓝牙耳机|ワイヤレスイヤホン",
    ),
    _product("YM-220", 29, "Yoga Mat|Yogamatte|Tapis de yoga|Esterilla de yoga|Tapete de ioga|瑜伽垫|ヨガマット"),
    _product(
        "TB-310",
        24,
        "Insulated Water Bottle|Isolierte Trinkflasche|Gourde isotherme|Botella térmica|"
        "Garrafa térmica|保温杯|保温ボトル",
    ),
    _product(
        "LS-400",
        39,
        "LED Desk Lamp|LED-Schreibtischlampe|Lampe de bureau LED|Lámpara de escritorio LED|"
        "Luminária de mesa LED|LED台灯|LEDデスクライト",
    ),
    _product(
        "BP-510",
        79,
        "Travel Backpack|Reiserucksack|Sac à dos de voyage|Mochila de viaje|Mochila de viagem|"
        "旅行双肩包|トラベルリュック",
    ),
    _product(
        "SK-620",
        45,
        "Skincare Gift Set|Hautpflege-Geschenkset|Coffret soin visage|Set de cuidado facial|"
        "Kit de cuidados com a pele|护肤礼盒|スキンケアギフトセット",
    ),
    _product(
        "PC-730", 15, "Phone Case|Handyhülle|Coque de téléphone|Funda para móvil|Capinha de celular|手机壳|スマホケース"
    ),
    _product(
        "SW-840",
        129,
        "Smart Watch|Smartwatch|Montre connectée|Reloj inteligente|Relógio inteligente|智能手表|スマートウォッチ",
    ),
    _product(
        "TS-950",
        22,
        "Organic Cotton T-Shirt|T-Shirt aus Bio-Baumwolle|T-shirt en coton bio|"
        "Camiseta de algodón orgánico|Camiseta de algodão orgânico|有机棉T恤|"
        "オーガニックコットンTシャツ",
    ),
    _product(
        "CF-160",
        49,
        "Pour-Over Coffee Set|Handfilter-Kaffeeset|Kit café filtre|Set de café de goteo|"
        "Kit de café coado|手冲咖啡套装|ハンドドリップコーヒーセット",
    ),
    _product(
        "KB-170",
        89,
        "Mechanical Keyboard|Mechanische Tastatur|Clavier mécanique|Teclado mecánico|"
        "Teclado mecânico|机械键盘|メカニカルキーボード",
    ),
    _product(
        "SN-180",
        95,
        "Running Shoes|Laufschuhe|Chaussures de running|Zapatillas de running|Tênis de corrida|"
        "跑步鞋|ランニングシューズ",
    ),
)

# Support tickets: (subject, body). Placeholders: {order_id} {phone} {email} {address} {first_name}
# {full_name}; the generator only picks a template whose placeholders it can fill.
TICKETS: dict[str, tuple[tuple[str, str], ...]] = {
    "en": (
        (
            "Where is my order {order_id}?",
            "Hi, I placed order {order_id} a week ago but the tracking hasn't updated since. Could you look into "
            "it? Thanks, {first_name}",
        ),
        (
            "Wrong size received",
            "Hello, the item in order {order_id} is the wrong size. Can I exchange it? Call me back on {phone} if "
            "that's easier.\n{full_name}",
        ),
        (
            "Refund not received",
            "I returned order {order_id} ten days ago and still haven't got my refund. My account email is {email}.",
        ),
        ("Please update my address", "Hi, I've moved. Please ship future orders to {address}. Best, {first_name}"),
        ("Question about shipping", "Do you offer express shipping? I need a gift before the weekend."),
        ("Delete my account", "Please delete my account and all the data you hold about me. Email: {email}"),
    ),
    "de": (
        (
            "Wo ist meine Bestellung {order_id}?",
            "Hallo, ich habe die Bestellung {order_id} vor einer Woche aufgegeben, aber die Sendungsverfolgung zeigt "
            "nichts Neues. Können Sie bitte nachsehen? Viele Grüße, {first_name}",
        ),
        (
            "Falsche Größe",
            "Guten Tag, der Artikel aus Bestellung {order_id} ist zu klein. Kann ich ihn umtauschen? Sie erreichen "
            "mich unter {phone}.\nMit freundlichen Grüßen\n{full_name}",
        ),
        (
            "Rückerstattung fehlt",
            "Ich habe die Bestellung {order_id} vor zehn Tagen zurückgeschickt und noch keine Erstattung erhalten. "
            "Meine E-Mail-Adresse ist {email}.",
        ),
        ("Neue Lieferadresse", "Hallo, ich bin umgezogen. Bitte liefern Sie künftig an {address}. Danke, {first_name}"),
        ("Frage zum Versand", "Bieten Sie Expressversand an? Ich brauche ein Geschenk bis zum Wochenende."),
        ("Konto löschen", "Bitte löschen Sie mein Konto und alle meine Daten gemäß DSGVO. E-Mail: {email}"),
    ),
    "fr": (
        (
            "Où est ma commande {order_id} ?",
            "Bonjour, j'ai passé la commande {order_id} il y a une semaine mais le suivi ne bouge plus. Pouvez-vous "
            "vérifier ? Merci, {first_name}",
        ),
        (
            "Mauvaise taille",
            "Bonjour, l'article de la commande {order_id} est trop petit. Puis-je l'échanger ? Vous pouvez me joindre "
            "au {phone}.\nCordialement,\n{full_name}",
        ),
        (
            "Remboursement non reçu",
            "J'ai renvoyé la commande {order_id} il y a dix jours et je n'ai toujours pas été remboursé. "
            "Mon adresse e-mail : {email}.",
        ),
        (
            "Changement d'adresse",
            "Bonjour, j'ai déménagé. Merci de livrer mes prochaines commandes au {address}. Bien à vous, {first_name}",
        ),
        (
            "Question sur la livraison",
            "Proposez-vous la livraison express ? J'ai besoin d'un cadeau avant le week-end.",
        ),
        ("Suppression de compte", "Merci de supprimer mon compte et toutes mes données (RGPD). E-mail : {email}"),
    ),
    "es": (
        (
            "¿Dónde está mi pedido {order_id}?",
            "Hola, hice el pedido {order_id} hace una semana y el seguimiento no se actualiza. ¿Podéis revisarlo? "
            "Gracias, {first_name}",
        ),
        (
            "Talla equivocada",
            "Buenas tardes, el artículo del pedido {order_id} es demasiado pequeño. ¿Puedo cambiarlo? Mi teléfono es "
            "{phone}.\nUn saludo,\n{full_name}",
        ),
        (
            "Reembolso pendiente",
            "Devolví el pedido {order_id} hace diez días y todavía no he recibido el reembolso. Mi correo es {email}.",
        ),
        (
            "Cambio de dirección",
            "Hola, me he mudado. Por favor, enviad los próximos pedidos a {address}. Gracias, {first_name}",
        ),
        ("Pregunta sobre el envío", "¿Tenéis envío urgente? Necesito un regalo antes del fin de semana."),
        ("Eliminar mi cuenta", "Por favor, eliminad mi cuenta y todos mis datos (RGPD). Correo: {email}"),
    ),
    "pt": (
        (
            "Cadê meu pedido {order_id}?",
            "Olá, fiz o pedido {order_id} há uma semana e o rastreamento não atualiza. Podem verificar? "
            "Obrigado, {first_name}",
        ),
        (
            "Tamanho errado",
            "Boa tarde, o produto do pedido {order_id} veio pequeno. Posso trocar? Meu WhatsApp é {phone}.\n"
            "Att.,\n{full_name}",
        ),
        (
            "Reembolso não recebido",
            "Devolvi o pedido {order_id} há dez dias e ainda não recebi o estorno. Meu e-mail é {email}.",
        ),
        (
            "Alteração de endereço",
            "Oi, mudei de endereço. Por favor, enviem os próximos pedidos para {address}. Obrigado, {first_name}",
        ),
        ("Dúvida sobre frete", "Vocês têm entrega expressa? Preciso de um presente até o fim de semana."),
        ("Excluir minha conta", "Por favor, excluam minha conta e todos os meus dados (LGPD). E-mail: {email}"),
    ),
    "zh": (
        (
            "我的订单{order_id}到哪里了？",
            "你好，我一周前下的订单{order_id}，物流信息一直没有更新，麻烦帮忙查一下。谢谢！{full_name}",
        ),
        ("尺码不对", "您好，订单{order_id}里的商品尺码偏小，可以换货吗？我的手机号是{phone}。"),
        ("退款还没到账", "订单{order_id}我十天前就退回了，退款到现在还没收到。我的邮箱是{email}。"),
        ("修改收货地址", "你好，我搬家了，以后的订单请寄到{address}。谢谢，{full_name}"),
        ("发货咨询", "请问可以加急发货吗？周末前需要送礼物。"),
        ("注销账户", "请注销我的账户并删除我的全部个人信息。邮箱：{email}"),
    ),
    "ja": (
        (
            "注文{order_id}の配送状況について",
            "お世話になっております。一週間前に注文した{order_id}の配送状況が更新されません。"
            "ご確認いただけますでしょうか。\n{full_name}",
        ),
        (
            "サイズ違いの交換",
            "注文{order_id}の商品のサイズが小さかったので、交換をお願いできますか。連絡先は{phone}です。",
        ),
        (
            "返金について",
            "十日前に注文{order_id}を返品しましたが、まだ返金されていません。メールアドレスは{email}です。",
        ),
        (
            "お届け先の変更",
            "引っ越しをしましたので、今後の配送先を{address}に変更してください。"
            "よろしくお願いいたします。\n{full_name}",
        ),
        ("配送について", "お急ぎ便はありますか？週末までにプレゼントを届けたいです。"),
        ("退会の依頼", "アカウントを削除し、個人情報をすべて消去してください。メール：{email}"),
    ),
}

# Review texts by language, indexed by rating - 1.
REVIEWS: dict[str, tuple[tuple[str, ...], ...]] = {
    "en": (
        ("Broke after two days. Very disappointed.", "Not as described, returning it."),
        ("Arrived late and smaller than expected.",),
        ("It's okay. Does the job but feels a bit cheap.",),
        ("Good value for money, packaging could be better.", "Works well, shipping took a while."),
        ("Absolutely love it — great quality and fast shipping.", "Exactly as described. Would buy again!"),
    ),
    "de": (
        ("Nach zwei Tagen kaputt. Sehr enttäuscht.", "Entspricht nicht der Beschreibung, geht zurück."),
        ("Kam verspätet an und ist kleiner als erwartet.",),
        ("Ganz okay. Erfüllt seinen Zweck, wirkt aber etwas billig.",),
        ("Gutes Preis-Leistungs-Verhältnis, die Verpackung könnte besser sein.",),
        ("Super Qualität und schnelle Lieferung – absolut empfehlenswert!", "Genau wie beschrieben. Gerne wieder."),
    ),
    "fr": (
        ("Cassé au bout de deux jours. Très déçu.", "Pas conforme à la description, je le renvoie."),
        ("Arrivé en retard et plus petit que prévu.",),
        ("Correct. Fait le travail mais fait un peu bon marché.",),
        ("Bon rapport qualité-prix, l'emballage pourrait être meilleur.",),
        ("Excellente qualité et livraison rapide, je recommande !", "Conforme à la description. Je rachèterai."),
    ),
    "es": (
        ("Se rompió a los dos días. Muy decepcionado.", "No es como en la descripción, lo devuelvo."),
        ("Llegó tarde y es más pequeño de lo esperado.",),
        ("Está bien. Cumple, pero parece un poco barato.",),
        ("Buena relación calidad-precio, el embalaje podría mejorar.",),
        ("¡Me encanta! Gran calidad y envío rápido.", "Tal como se describe. Volveré a comprar."),
    ),
    "pt": (
        ("Quebrou depois de dois dias. Muito decepcionado.", "Não é como o anunciado, vou devolver."),
        ("Chegou atrasado e menor do que eu esperava.",),
        ("É ok. Funciona, mas parece meio frágil.",),
        ("Bom custo-benefício, a embalagem poderia ser melhor.",),
        ("Amei! Ótima qualidade e entrega rápida.", "Exatamente como descrito. Compraria de novo."),
    ),
    "zh": (
        ("用了两天就坏了，非常失望。", "和描述不符，已申请退货。"),
        ("到货很慢，而且比想象的小。",),
        ("还行，能用，但做工一般。",),
        ("性价比不错，包装可以再好一点。",),
        ("质量很好，物流也快，非常满意！", "和描述一致，会回购。"),
    ),
    "ja": (
        ("二日で壊れました。とても残念です。", "説明と違うので返品します。"),
        ("届くのが遅く、思ったより小さかったです。",),
        ("普通です。使えますが少し安っぽいです。",),
        ("コスパが良いです。梱包はもう少し丁寧だと嬉しいです。",),
        ("品質が良く、配送も早くて大満足です！", "説明通りの商品でした。リピートします。"),
    ),
}

REFERRERS = ("", "https://www.google.com/", "https://www.instagram.com/", "https://t.co/", "https://www.bing.com/")
