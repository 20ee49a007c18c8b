"""The words of the world's two grammars, as data: the English grammar's slot lists and templates, and the parallel
grammar's five-language tables (one row per English lemma: de, fr, es, zh forms and the facts agreement needs)."""

from __future__ import annotations

# The English grammar: single clause, no punctuation, so every token is one espeak word event.

LEXICON: dict[str, tuple[str, ...]] = {
    "D": ("the", "a", "this", "that", "every", "one", "my", "your", "his", "her", "our", "their",
          "another", "each"),
    "A": ("small", "large", "old", "young", "quiet", "noisy", "happy", "tired", "bright", "dark", "green",
          "yellow", "purple", "brown", "silver", "golden", "heavy", "light", "gentle", "angry", "clever",
          "curious", "famous", "strange", "ancient", "modern", "wooden", "broken", "empty", "busy", "lazy",
          "friendly", "careful", "hungry", "sleepy", "shiny", "wet", "dusty", "narrow", "wide", "tall",
          "short", "warm", "cold", "quick", "slow", "brave", "shy", "proud", "simple", "tiny", "round",
          "soft", "loud", "fresh", "sweet", "bitter", "rusty", "lonely", "elegant", "orange", "icy"),
    "N": ("dog", "cat", "horse", "bird", "rabbit", "teacher", "doctor", "farmer", "baker", "sailor",
          "painter", "student", "child", "neighbor", "stranger", "king", "queen", "soldier", "pilot",
          "singer", "driver", "monkey", "tiger", "elephant", "turtle", "fox", "owl", "wolf", "lion",
          "river", "mountain", "garden", "kitchen", "window", "table", "chair", "letter", "book",
          "basket", "bottle", "ladder", "lamp", "bicycle", "train", "boat", "bridge", "castle", "village",
          "forest", "island", "market", "station", "library", "museum", "street", "apple", "orange",
          "sandwich", "blanket", "umbrella", "hammer", "candle", "mirror", "pocket", "guitar", "piano",
          "drum", "kettle", "pillow", "carpet", "engine", "wagon", "feather", "stone", "shell", "flower",
          "tree", "cloud", "storm", "road", "map", "key", "door", "box"),
    "V": ("saw", "found", "carried", "painted", "pushed", "pulled", "watched", "followed", "visited",
          "cleaned", "opened", "closed", "dropped", "lifted", "touched", "fixed", "broke", "bought", "sold",
          "borrowed", "hid", "chased", "helped", "greeted", "remembered", "forgot", "noticed", "admired",
          "washed", "moved", "kicked", "threw", "caught", "dragged", "packed", "counted", "measured",
          "described", "photographed", "ignored", "protected", "questioned", "rescued", "tickled",
          "wrapped", "delivered", "inspected", "repaired", "collected", "discovered"),
    "I": ("slept", "laughed", "smiled", "waited", "danced", "sang", "cried", "jumped", "walked", "ran",
          "arrived", "left", "stayed", "rested", "shouted", "whistled", "listened", "wandered", "paused",
          "trembled", "shivered", "yawned", "stumbled", "hurried", "appeared", "vanished", "returned",
          "sat", "swam", "climbed"),
    "R": ("quickly", "slowly", "quietly", "loudly", "happily", "sadly", "carefully", "gently", "suddenly",
          "eagerly", "calmly", "bravely", "politely", "proudly", "nervously", "silently", "patiently",
          "cheerfully", "softly", "boldly", "lazily", "secretly", "kindly", "warmly", "rarely", "often",
          "finally", "barely", "gladly", "firmly"),
    "P": ("near", "behind", "under", "over", "beside", "inside", "outside", "across", "along", "around",
          "past", "toward", "into", "onto", "beyond", "below", "above", "through", "against", "between"),
    "M": ("anna", "ben", "clara", "daniel", "emma", "felix", "grace", "henry", "isabel", "jack", "karen",
          "leo", "maria", "nathan", "olivia", "peter", "rachel", "samuel", "sophie", "thomas", "victor",
          "william", "zoe", "oliver", "lucy", "martin", "alice", "george", "helen", "james", "julia",
          "kevin", "laura", "michael", "nina", "oscar", "paula", "robert", "sarah", "tony"),
    "T": ("yesterday", "today", "tonight", "later", "again", "once", "twice", "early", "recently", "soon"),
}

# slots are the upper-case letters above; everything else is literal text
TEMPLATES = (
    "D A N V D N P D N",
    "M R V D A N",
    "D N I R P D A N",
    "M and M V D A N P D N",
    "D A N I P D N because D N V D N",
    "M said D A N V D N P D N",
    "D A A N R V D N T",
    "after D N I M V D A N P D N",
    "M V D A N while D N I R",
    "when D A N I P D N M R V D A N",
    "T M V D N P D A N",
    "D N P D N V D A N R",
    "M and D A N I R P D N",
    "every morning M V D N P D N",
    "M thought D N I P D A N",
    "D A N V D N and D N I",
    "M V D N but D A N I R",
    "T D A N V M P D N",
    "D N I P D N and M I T",
    "M asked if D A N I P D N T",
)


# ---------------------------------------------------------------------------------------------
# The parallel grammar: abstract sentences (English lemmas in a small tree) realised in every language.
# Lexicon rules, so that every word is one espeak word event and agreement stays simple:
# - nouns are singular; de nouns decline only through article and adjective (no weak masculines such as
#   junge, bär, pilot); fr nouns start with a consonant other than h (no elision: l', d', qu');
#   es feminine nouns never take "el" (no agua, águila);
# - de: der-words take weak adjective endings, ein-words mixed ones; objects are accusative, places dative
#   (prepositions of place), "in dem" is "im"; subordinate clauses put the verb last;
# - fr: "+" marks adjectives that go before the noun; "de le" is "du"; subordinate subjects and objects
#   of "à côté de" never take "un"/"une" (no "qu'un", "d'un") — the abstract grammar never draws them;
# - es: adjectives follow the noun; animate objects take the personal "a"; "de el"/"a el" are "del"/"al";
#   predicative adjectives say which copula (ser/estar) they use;
# - zh: classifiers per noun (一只 狗, 这本 书); attributive and predicative forms per adjective; place
#   phrases are 在 ... 旁边 frames before the verb; words are tokens joined by spaces.

# kind: a animal, h human, t thing, c container (a thing one can be in), p place one is in, o place one is on
_NOUN_TABLE = """
dog        | hund m          | chien m        | perro m       | 只 狗     | a
cat        | katze f         | chat m         | gato m        | 只 猫     | a
horse      | pferd n         | cheval m       | caballo m     | 匹 马     | a
rabbit     | kaninchen n     | lapin m        | conejo m      | 只 兔子   | a
mouse      | maus f          | souris f       | ratón m       | 只 老鼠   | a
cow        | kuh f           | vache f        | vaca f        | 头 牛     | a
pigeon     | taube f         | pigeon m       | paloma f      | 只 鸽子   | a
duck       | ente f          | canard m       | pato m        | 只 鸭子   | a
fish       | fisch m         | poisson m      | pez m         | 条 鱼     | a
pig        | schwein n       | cochon m       | cerdo m       | 头 猪     | a
sheep      | schaf n         | mouton m       | oveja f       | 只 羊     | a
frog       | frosch m        | grenouille f   | rana f        | 只 青蛙   | a
wolf       | wolf m          | loup m         | lobo m        | 只 狼     | a
fox        | fuchs m         | renard m       | zorro m       | 只 狐狸   | a
snake      | schlange f      | serpent m      | serpiente f   | 条 蛇     | a
tiger      | tiger m         | tigre m        | tigre m       | 只 老虎   | a
goat       | ziege f         | chèvre f       | cabra f       | 只 山羊   | a
hen        | huhn n          | poule f        | gallina f     | 只 母鸡   | a
turtle     | schildkröte f   | tortue f       | tortuga f     | 只 乌龟   | a
butterfly  | schmetterling m | papillon m     | mariposa f    | 只 蝴蝶   | a
camel      | kamel n         | chameau m      | camello m     | 头 骆驼   | a
zebra      | zebra n         | zèbre m        | cebra f       | 匹 斑马   | a
giraffe    | giraffe f       | girafe f       | jirafa f      | 只 长颈鹿 | a
parrot     | papagei m       | perroquet m    | loro m        | 只 鹦鹉   | a
teacher    | lehrer m        | professeur m   | maestro m     | 位 老师   | h
doctor     | arzt m          | médecin m      | médico m      | 位 医生   | h
girl       | mädchen n       | fille f        | niña f        | 个 女孩   | h
aunt       | tante f         | tante f        | tía f         | 个 阿姨   | h
farmer     | landwirt m      | fermier m      | granjero m    | 个 农民   | h
baker      | bäcker m        | boulanger m    | panadero m    | 个 面包师 | h
cook       | koch m          | cuisinier m    | cocinero m    | 个 厨师   | h
king       | könig m         | roi m          | rey m         | 位 国王   | h
queen      | königin f       | reine f        | reina f       | 位 王后   | h
singer     | sänger m        | chanteur m     | cantante m    | 位 歌手   | h
painter    | maler m         | peintre m      | pintor m      | 位 画家   | h
sailor     | seemann m       | marin m        | marinero m    | 个 水手   | h
driver     | fahrer m        | chauffeur m    | conductor m   | 个 司机   | h
dancer     | tänzer m        | danseur m      | bailarín m    | 位 舞蹈家 | h
waiter     | kellner m       | serveur m      | camarero m    | 个 服务员 | h
friend     | freund m        | copain m       | amigo m       | 个 朋友   | h
gardener   | gärtner m       | jardinier m    | jardinero m   | 个 园丁   | h
fisherman  | fischer m       | pêcheur m      | pescador m    | 个 渔夫   | h
musician   | musiker m       | musicien m     | músico m      | 位 音乐家 | h
postman    | briefträger m   | facteur m      | cartero m     | 个 邮递员 | h
captain    | kapitän m       | capitaine m    | capitán m     | 位 船长   | h
thief      | dieb m          | voleur m       | ladrón m      | 个 小偷   | h
judge      | richter m       | juge m         | juez m        | 位 法官   | h
hunter     | jäger m         | chasseur m     | cazador m     | 个 猎人   | h
tailor     | schneider m     | tailleur m     | sastre m      | 个 裁缝   | h
book       | buch n          | livre m        | libro m       | 本 书     | t
ball       | ball m          | ballon m       | pelota f      | 个 球     | t
chair      | stuhl m         | chaise f       | silla f       | 把 椅子   | t
table      | tisch m         | table f        | mesa f        | 张 桌子   | t
lamp       | lampe f         | lampe f        | lámpara f     | 盏 灯     | t
key        | schlüssel m     | clé f          | llave f       | 把 钥匙   | t
letter     | brief m         | lettre f       | carta f       | 封 信     | t
hat        | hut m           | chapeau m      | sombrero m    | 顶 帽子   | t
umbrella   | schirm m        | parapluie m    | paraguas m    | 把 伞     | t
bicycle    | fahrrad n       | vélo m         | bicicleta f   | 辆 自行车 | t
apple      | apfel m         | pomme f        | manzana f     | 个 苹果   | t
cake       | kuchen m        | gâteau m       | pastel m      | 块 蛋糕   | t
bread      | brot n          | pain m         | pan m         | 个 面包   | t
flower     | blume f         | fleur f        | flor f        | 朵 花     | t
stone      | stein m         | pierre f       | piedra f      | 块 石头   | t
guitar     | gitarre f       | guitare f      | guitarra f    | 把 吉他   | t
piano      | klavier n       | piano m        | piano m       | 台 钢琴   | t
drum       | trommel f       | tambour m      | tambor m      | 面 鼓     | t
clock      | uhr f           | pendule f      | reloj m       | 个 钟     | t
mirror     | spiegel m       | miroir m       | espejo m      | 面 镜子   | t
window     | fenster n       | fenêtre f      | ventana f     | 扇 窗户   | t
door       | tür f           | porte f        | puerta f      | 扇 门     | t
bed        | bett n          | lit m          | cama f        | 张 床     | t
cushion    | kissen n        | coussin m      | cojín m       | 个 垫子   | t
candle     | kerze f         | bougie f       | vela f        | 根 蜡烛   | t
map        | karte f         | carte f        | mapa m        | 张 地图   | t
shoe       | schuh m         | chaussure f    | zapato m      | 只 鞋     | t
jacket     | jacke f         | veste f        | chaqueta f    | 件 夹克   | t
newspaper  | zeitung f       | journal m      | periódico m   | 份 报纸   | t
camera     | kamera f        | caméra f       | cámara f      | 台 相机   | t
phone      | telefon n       | téléphone m    | teléfono m    | 部 电话   | t
radio      | radio n         | radio f        | radio f       | 台 收音机 | t
pencil     | bleistift m     | crayon m       | lápiz m       | 支 铅笔   | t
spoon      | löffel m        | cuillère f     | cuchara f     | 把 勺子   | t
knife      | messer n        | couteau m      | cuchillo m    | 把 刀     | t
blanket    | decke f         | couverture f   | manta f       | 条 毯子   | t
carpet     | teppich m       | tapis m        | alfombra f    | 块 地毯   | t
toy        | spielzeug n     | jouet m        | juguete m     | 个 玩具   | t
bell       | glocke f        | cloche f       | campana f     | 个 铃铛   | t
ring       | ring m          | bague f        | anillo m      | 枚 戒指   | t
box        | kiste f         | boîte f        | caja f        | 个 盒子   | c
basket     | korb m          | panier m       | cesta f       | 个 篮子   | c
bag        | tasche f        | sac m          | bolsa f       | 个 包     | c
suitcase   | koffer m        | valise f       | maleta f      | 个 箱子   | c
car        | auto n          | voiture f      | coche m       | 辆 汽车   | c
boat       | boot n          | bateau m       | barco m       | 条 船     | c
train      | zug m           | train m        | tren m        | 列 火车   | c
cup        | tasse f         | tasse f        | taza f        | 个 杯子   | c
bottle     | flasche f       | bouteille f    | botella f     | 个 瓶子   | c
bowl       | schüssel f      | bol m          | cuenco m      | 个 碗     | c
house      | haus n          | maison f       | casa f        | 座 房子   | p
garden     | garten m        | jardin m       | jardín m      | 个 花园   | p
kitchen    | küche f         | cuisine f      | cocina f      | 间 厨房   | p
river      | fluss m         | rivière f      | río m         | 条 河     | p
forest     | wald m          | forêt f        | bosque m      | 片 森林   | p
market     | markt m         | marché m       | mercado m     | 个 市场   | p
station    | bahnhof m       | gare f         | estación f    | 个 车站   | p
castle     | schloss n       | château m      | castillo m    | 座 城堡   | p
library    | bibliothek f    | bibliothèque f | biblioteca f  | 个 图书馆 | p
museum     | museum n        | musée m        | museo m       | 个 博物馆 | p
park       | park m          | parc m         | parque m      | 个 公园   | p
lake       | see m           | lac m          | lago m        | 个 湖     | p
village    | dorf n          | village m      | pueblo m      | 个 村子   | p
tower      | turm m          | tour f         | torre f       | 座 塔     | p
barn       | scheune f       | grange f       | granero m     | 个 谷仓   | p
tent       | zelt n          | tente f        | carpa f       | 顶 帐篷   | p
shop       | laden m         | magasin m      | tienda f      | 家 商店   | p
harbor     | hafen m         | port m         | puerto m      | 个 港口   | p
cave       | höhle f         | grotte f       | cueva f       | 个 山洞   | p
well       | brunnen m       | puits m        | pozo m        | 口 井     | p
pond       | teich m         | mare f         | estanque m    | 个 池塘   | p
restaurant | restaurant n    | restaurant m   | restaurante m | 家 饭店   | p
bridge     | brücke f        | pont m         | puente m      | 座 桥     | o
mountain   | berg m          | montagne f     | montaña f     | 座 山     | o
wall       | mauer f         | mur m          | muro m        | 面 墙     | o
hill       | hügel m         | colline f      | colina f      | 座 山丘   | o
roof       | dach n          | toit m         | tejado m      | 个 屋顶   | o
"""

# de stem (endings added) | fr masculine/feminine, "+" = before the noun | es masculine/feminine copula |
# zh attributive/predicative | kinds of noun it describes
_ADJECTIVE_TABLE = """
small     | klein      | +petit/petite            | pequeño/pequeña ser         | 小/很 小           | ahtcpo
big       | groß       | +grand/grande            | grande/grande ser           | 大/很 大           | ahtcpo
old       | alt        | +vieux/vieille           | viejo/vieja ser             | 老/很 老           | ahtcpo
beautiful | schön      | +beau/belle              | bonito/bonita ser           | 漂亮 的/很 漂亮    | ahtcpo
new       | neu        | +nouveau/nouvelle        | nuevo/nueva ser             | 新/很 新           | tcpo
young     | jung       | +jeune/jeune             | joven/joven ser             | 年轻 的/很 年轻    | ah
good      | gut        | +bon/bonne               | bueno/buena ser             | 好/很 好           | ah
long      | lang       | +long/longue             | largo/larga ser             | 长/很 长           | tcp
fat       | dick       | +gros/grosse             | gordo/gorda ser             | 胖/很 胖           | ah
red       | rot        | rouge/rouge              | rojo/roja ser               | 红色 的/是 红色 的 | tcpo
green     | grün       | vert/verte               | verde/verde ser             | 绿色 的/是 绿色 的 | atcpo
blue      | blau       | bleu/bleue               | azul/azul ser               | 蓝色 的/是 蓝色 的 | tcpo
yellow    | gelb       | jaune/jaune              | amarillo/amarilla ser       | 黄色 的/是 黄色 的 | atcpo
white     | weiß       | blanc/blanche            | blanco/blanca ser           | 白色 的/是 白色 的 | atcpo
black     | schwarz    | noir/noire               | negro/negra ser             | 黑色 的/是 黑色 的 | atcpo
brown     | braun      | marron/marron            | marrón/marrón ser           | 棕色 的/是 棕色 的 | atcpo
gray      | grau       | gris/grise               | gris/gris ser               | 灰色 的/是 灰色 的 | atcpo
golden    | golden     | doré/dorée               | dorado/dorada ser           | 金色 的/是 金色 的 | tc
quiet     | ruhig      | calme/calme              | tranquilo/tranquila estar   | 安静 的/很 安静    | ahp
loud      | laut       | bruyant/bruyante         | ruidoso/ruidosa ser         | 吵闹 的/很 吵闹    | ahp
happy     | glücklich  | heureux/heureuse         | feliz/feliz estar           | 开心 的/很 开心    | ah
sad       | traurig    | triste/triste            | triste/triste estar         | 伤心 的/很 伤心    | ah
tired     | müde       | fatigué/fatiguée         | cansado/cansada estar       | 疲倦 的/很 累      | ah
hungry    | hungrig    | affamé/affamée           | hambriento/hambrienta estar | 饥饿 的/很 饿      | ah
angry     | wütend     | fâché/fâchée             | enfadado/enfadada estar     | 生气 的/很 生气    | ah
clever    | klug       | intelligent/intelligente | listo/lista ser             | 聪明 的/很 聪明    | ah
brave     | mutig      | courageux/courageuse     | valiente/valiente ser       | 勇敢 的/很 勇敢    | ah
friendly  | freundlich | gentil/gentille          | amable/amable ser           | 友好 的/很 友好    | ah
lazy      | faul       | paresseux/paresseuse     | perezoso/perezosa ser       | 懒惰 的/很 懒      | ah
strong    | stark      | fort/forte               | fuerte/fuerte ser           | 强壮 的/很 强壮    | ah
curious   | neugierig  | curieux/curieuse         | curioso/curiosa ser         | 好奇 的/很 好奇    | ah
shy       | schüchtern | timide/timide            | tímido/tímida ser           | 害羞 的/很 害羞    | ah
proud     | stolz      | fier/fière               | orgulloso/orgullosa estar   | 骄傲 的/很 骄傲    | ah
thin      | dünn       | mince/mince              | delgado/delgada ser         | 瘦/很 瘦           | ah
famous    | berühmt    | célèbre/célèbre          | famoso/famosa ser           | 有名 的/很 有名    | ahpo
strange   | seltsam    | étrange/étrange          | extraño/extraña ser         | 奇怪 的/很 奇怪    | ahtcpo
huge      | riesig     | énorme/énorme            | enorme/enorme ser           | 巨大 的/很 巨大    | ahtcpo
heavy     | schwer     | lourd/lourde             | pesado/pesada ser           | 沉重 的/很 重      | tc
broken    | kaputt     | cassé/cassée             | roto/rota estar             | 坏 的/坏 了        | tc
empty     | leer       | vide/vide                | vacío/vacía estar           | 空/是 空 的        | cp
clean     | sauber     | propre/propre            | limpio/limpia estar         | 干净 的/很 干净    | atcp
dirty     | schmutzig  | sale/sale                | sucio/sucia estar           | 脏/很 脏           | atcp
warm      | warm       | chaud/chaude             | caliente/caliente estar     | 温暖 的/很 暖和    | tcp
cold      | kalt       | froid/froide             | frío/fría estar             | 冰冷 的/很 冷      | tcp
round     | rund       | rond/ronde               | redondo/redonda ser         | 圆/是 圆 的        | tc
soft      | weich      | doux/douce               | suave/suave ser             | 柔软 的/很 软      | atc
bright    | hell       | clair/claire             | claro/clara ser             | 明亮 的/很 亮      | tcp
short     | kurz       | court/courte             | corto/corta ser             | 短/很 短           | tc
wide      | breit      | large/large              | ancho/ancha ser             | 宽阔 的/很 宽      | po
deep      | tief       | profond/profonde         | profundo/profunda ser       | 深/很 深           | p
"""

# intransitive verbs, 3rd person singular present | kinds of noun they take as subject
_INTRANSITIVE_TABLE = """
sleeps   | schläft  | dort      | duerme   | 睡觉    | ah
sings    | singt    | chante    | canta    | 唱歌    | ah
plays    | spielt   | joue      | juega    | 玩耍    | ah
waits    | wartet   | attend    | espera   | 等着    | ah
runs     | rennt    | court     | corre    | 跑步    | ah
dances   | tanzt    | danse     | baila    | 跳舞    | ah
eats     | isst     | mange     | come     | 吃饭    | ah
works    | arbeitet | travaille | trabaja  | 工作    | h
laughs   | lacht    | rit       | ríe      | 笑      | h
rests    | ruht     | se repose | descansa | 休息    | ah
swims    | schwimmt | nage      | nada     | 游泳    | ah
cries    | weint    | pleure    | llora    | 哭      | h
jumps    | springt  | saute     | salta    | 跳      | ah
smiles   | lächelt  | sourit    | sonríe   | 微笑    | h
dreams   | träumt   | rêve      | sueña    | 做梦    | ah
shouts   | schreit  | crie      | grita    | 大喊    | h
whistles | pfeift   | siffle    | silba    | 吹 口哨 | h
reads    | liest    | lit       | lee      | 看书    | h
writes   | schreibt | écrit     | escribe  | 写字    | h
"""

# transitive verbs | kinds of noun they take as object | as subject
_TRANSITIVE_TABLE = """
sees    | sieht      | voit    | ve        | 看见 | ahtcpo | ah
finds   | findet     | trouve  | encuentra | 找到 | ahtc   | ah
carries | trägt      | porte   | lleva     | 拿着 | tc     | h
watches | beobachtet | regarde | mira      | 看着 | ahtcpo | ah
loves   | liebt      | aime    | ama       | 爱   | ah     | ah
paints  | malt       | peint   | pinta     | 画   | ahtcpo | h
follows | verfolgt   | suit    | sigue     | 跟着 | ah     | ah
buys    | kauft      | achète  | compra    | 买   | tc     | h
washes  | wäscht     | lave    | lava      | 洗   | atc    | h
opens   | öffnet     | ouvre   | abre      | 打开 | c      | h
sells   | verkauft   | vend    | vende     | 卖   | tc     | h
brings  | bringt     | apporte | trae      | 带来 | tc     | ah
throws  | wirft      | lance   | lanza     | 扔   | t      | h
catches | fängt      | attrape | atrapa    | 抓住 | at     | ah
visits  | besucht    | visite  | visita    | 参观 | po     | h
hears   | hört       | entend  | oye       | 听见 | ah     | ah
calls   | ruft       | appelle | llama     | 叫   | ah     | h
feeds   | füttert    | nourrit | alimenta  | 喂   | a      | h
pushes  | schiebt    | pousse  | empuja    | 推   | tc     | ah
repairs | repariert  | répare  | repara    | 修理 | tc     | h
hides   | versteckt  | cache   | esconde   | 藏   | tc     | ah
forgets | vergisst   | oublie  | olvida    | 忘记 | tc     | h
touches | berührt    | touche  | toca      | 摸   | atc    | ah
cleans  | putzt      | nettoie | limpia    | 打扫 | p      | h
"""

# verbs of saying and thinking: "X says that <clause>" (subjects are people)
_SAY_TABLE = """
says   | sagt  | dit   | dice   | 说
thinks | denkt | pense | piensa | 觉得
knows  | weiß  | sait  | sabe   | 知道
"""

# prepositions of place and company; zh is a frame around the noun phrase | kinds of noun they take
_PREPOSITION_TABLE = """
next to     | neben  | à côté de | junto a    | 在 … 旁边 | ahtcpo
behind      | hinter | derrière  | detrás de  | 在 … 后面 | ahtcpo
in front of | vor    | devant    | delante de | 在 … 前面 | ahtcpo
under       | unter  | sous      | debajo de  | 在 … 下面 | tco
on          | auf    | sur       | sobre      | 在 … 上面 | tco
in          | in     | dans      | en         | 在 … 里   | cp
with        | mit    | avec      | con        | 和 … 一起 | ah
"""

# adverbs: time (at the end of the clause; de: after the finite verb; zh: after the subject) and manner
_TIME_TABLE = """
now           | jetzt        | maintenant   | ahora       | 现在
tonight       | heute abend  | ce soir      | esta noche  | 今晚
every day     | jeden tag    | chaque jour  | cada día    | 每天
every morning | jeden morgen | chaque matin | cada mañana | 每天 早上
on sunday     | am sonntag   | dimanche     | el domingo  | 星期天
in winter     | im winter    | en hiver     | en invierno | 冬天
"""

_MANNER_TABLE = """
quietly   | leise      | doucement   | en silencio | 安静 地
slowly    | langsam    | lentement   | despacio    | 慢慢 地
happily   | fröhlich   | joyeusement | alegremente | 开心 地
loudly    | laut       | fort        | fuerte      | 大声 地
quickly   | schnell    | vite        | rápido      | 飞快 地
carefully | vorsichtig | prudemment  | con cuidado | 小心 地
"""

# the words that join clauses: "because", "while", "that"; zh wraps the clause it introduces
LINKS = {
    "because": {"en": "because", "de": "weil", "fr": "car", "es": "porque", "zh": "因为 … 所以"},
    "while": {"en": "while", "de": "während", "fr": "pendant que", "es": "mientras", "zh": "当 … 的 时候"},
    "that": {"en": "that", "de": "dass", "fr": "que", "es": "que", "zh": ""},
}


def _table(text: str) -> dict[str, list[str]]:
    rows = [[f.strip() for f in line.split("|")] for line in text.strip().splitlines()]
    return {r[0]: r for r in rows}


NOUNS = _table(_NOUN_TABLE)
ADJECTIVES = _table(_ADJECTIVE_TABLE)
INTRANSITIVE = _table(_INTRANSITIVE_TABLE)
TRANSITIVE = _table(_TRANSITIVE_TABLE)
SAY = _table(_SAY_TABLE)
PREPOSITIONS = _table(_PREPOSITION_TABLE)
TIMES = _table(_TIME_TABLE)
MANNERS = _table(_MANNER_TABLE)
